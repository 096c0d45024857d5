<?php
// REPORTS_AUTH_MODE=token: call reports_logout() from the portal's own logout page, before
// it destroys the session, so the module ends that user's sessions too:
//   require_once __DIR__ . '/reports_logout.php';
//   reports_logout($_SESSION['username']);
//   session_destroy();
// Put it in the portal's folder with reports_config.php. The call goes server to server
// (server_base in reports_config.php), signed with the shared secret; it never blocks the
// portal's logout for more than a few seconds, even if the module is down.

declare(strict_types=1);

require_once __DIR__ . '/reports_config.php';

function reports_logout(string $user): bool
{
    $body = http_build_query(['token' => reports_token('logout', $user)]);
    $context = stream_context_create(['http' => [
        'method' => 'POST',
        'header' => "Content-Type: application/x-www-form-urlencoded\r\n",
        'content' => $body,
        'timeout' => 3,
        'ignore_errors' => true,
    ]]);
    $answer = @file_get_contents(reports_config()['server_base'] . '/handoff/logout', false, $context);
    if ($answer === false) {
        error_log('myoffice-reports: logout call failed for ' . $user);
        return false;
    }
    $result = json_decode($answer, true);
    return is_array($result) && ($result['ok'] ?? false) === true;
}
