<?php
// REPORTS_AUTH_MODE=header: the endpoint nginx asks before every request to the module
// (auth_request; `location = /myoffice-auth` in deploy/nginx/myoffice.conf points here).
// Put it in the portal's folder, e.g. /var/www/myoffice/reports_auth.php, with
// reports_config.php. A browser that opens it directly learns only its own login.
//
// 204 with X-Portal-User/-Name/-Position (percent-encoded UTF-8, since HTTP headers are
// Latin-1) for a logged-in user; 401 for anyone else, which nginx turns into a redirect to
// the portal's login page.

declare(strict_types=1);

require_once __DIR__ . '/reports_config.php';

// read_and_close: look, don't lock the session or touch it.
$user = reports_current_user(reports_read_session());
header('Cache-Control: no-store');
if ($user === null) {
    http_response_code(401);
    exit;
}
[$login, $name, $position] = $user;
header('X-Portal-User: ' . rawurlencode($login));
header('X-Portal-Name: ' . rawurlencode($name));
header('X-Portal-Position: ' . rawurlencode($position));
http_response_code(204);
