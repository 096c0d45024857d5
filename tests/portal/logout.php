<?php
// The portal's logout, for tests/test_deploy.py only: tells the module (token mode), then
// ends the PHP session, as integrations/php/reports_logout.php says a portal should.
declare(strict_types=1);
require_once __DIR__ . '/reports_logout.php';
session_start();
if (reports_config()['secret'] !== '') {
    reports_logout_current($_SESSION);
}
$_SESSION = [];
session_destroy();
header('Location: /myoffice/login.php', true, 302);
