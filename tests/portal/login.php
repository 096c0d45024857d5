<?php
// A stand-in for the office portal's login page, for tests/test_deploy.py only.
declare(strict_types=1);
session_start();
const STAFF = [
    'somchai' => ['password' => 'portal-pass-1', 'fullname' => 'สมชาย ใจดี', 'position' => 'กลุ่มนโยบายและแผน'],
    'malee' => ['password' => 'portal-pass-2', 'fullname' => 'มาลี ศรีสุข', 'position' => 'กลุ่มบริหารงานบุคคล'],
];
$error = '';
if ($_SERVER['REQUEST_METHOD'] === 'POST') {
    $login = (string) ($_POST['username'] ?? '');
    $password = (string) ($_POST['password'] ?? '');
    if (isset(STAFF[$login]) && hash_equals(STAFF[$login]['password'], $password)) {
        session_regenerate_id(true);
        $_SESSION['username'] = $login;
        $_SESSION['fullname'] = STAFF[$login]['fullname'];
        $_SESSION['position'] = STAFF[$login]['position'];
        header('Location: /myoffice/index.php', true, 303);
        exit;
    }
    $error = 'ชื่อผู้ใช้หรือรหัสผ่านไม่ถูกต้อง';
}
?><!doctype html>
<html lang="th"><meta charset="utf-8"><title>My Office: เข้าสู่ระบบ</title>
<h1>My Office</h1>
<p id="error"><?= htmlspecialchars($error) ?></p>
<form method="post" action="/myoffice/login.php">
  <input name="username" id="username"> <input name="password" id="password" type="password">
  <button type="submit">เข้าสู่ระบบ</button>
</form>
</html>
