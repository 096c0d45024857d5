<?php
// REPORTS_AUTH_MODE=token: call reports_logout() from the portal's own logout page, after
// session_start() and before it destroys the session, so the module ends that user's
// sessions too:
//   require_once __DIR__ . '/reports_logout.php';
//   reports_logout_current($_SESSION);
//   session_destroy();
// Put it in the portal's folder with reports_config.php. The call goes server to server
// (server_base in reports_config.php), signed with the shared secret; it never blocks the
// portal's logout for more than a few seconds, even if the module is down.

declare(strict_types=1);

require_once __DIR__ . '/reports_config.php';

/** The logout call for whoever $session says is logged in; nobody, nothing to do. */
function reports_logout_current(array $session): bool
{
    $user = reports_current_user($session);
    return $user === null ? false : reports_logout($user[0]);
}

function reports_logout(string $user): bool
{
    $config = reports_config();
    $body = http_build_query(['token' => reports_token('logout', $user)]);
    $headers = "Content-Type: application/x-www-form-urlencoded\r\n";
    if ($config['server_host'] !== '') {
        $headers .= 'Host: ' . $config['server_host'] . "\r\n";
    }
    $context = stream_context_create(['http' => [
        'method' => 'POST',
        'header' => $headers,
        'content' => $body,
        'timeout' => 3,
        'ignore_errors' => true,
    ]]);
    $answer = @file_get_contents($config['server_base'] . '/handoff/logout', false, $context);
    $result = is_string($answer) ? json_decode($answer, true) : null;
    if (!is_array($result) || ($result['ok'] ?? false) !== true) {
        // Said out loud: a failed call leaves the user logged in to the module.
        error_log('myoffice-reports: logout call failed for ' . $user . ': '
            . (is_string($answer) ? substr($answer, 0, 200) : 'no answer'));
        return false;
    }
    return true;
}
