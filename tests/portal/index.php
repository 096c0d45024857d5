<?php
// The portal's menu, for tests/test_deploy.py only. Like many portals it keeps its session
// open (and locked) while it draws the page, menu included.
declare(strict_types=1);
require_once __DIR__ . '/reports_menu.php';
session_start();
if (empty($_SESSION['username'])) {
    header('Location: /myoffice/login.php', true, 302);
    exit;
}
?><!doctype html>
<html lang="th"><meta charset="utf-8"><title>My Office</title>
<h1>สวัสดี <?= htmlspecialchars($_SESSION['fullname']) ?></h1>
<ul>
  <li><a id="reports" href="/myoffice/reports/">ระบบรายงานตัวชี้วัด</a></li>
  <li><a id="reports-token" href="/myoffice/reports_link.php">ระบบรายงานตัวชี้วัด (ลิงก์พร้อมสิทธิ์)</a></li>
  <li><a id="logout" href="/myoffice/logout.php">ออกจากระบบ</a></li>
</ul>
<nav id="portal-reports-menu"><?= reports_menu_html() ?></nav>
</html>
