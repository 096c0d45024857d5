<?php
// REPORTS_AUTH_MODE=token: the portal's menu item for the module links here, e.g.
//   <a href="/myoffice/reports_link.php">ระบบรายงานตัวชี้วัด</a>
//   <a href="/myoffice/reports_link.php?next=/myoffice/reports/send/">ส่งเอกสารคำรับรอง</a>
// Put it in the portal's folder with reports_config.php. On each click it signs a fresh
// one-time token (valid for about a minute) for the logged-in user and sends the browser on
// to the module, which logs them in; a token made when the menu was drawn could expire
// before the click.

declare(strict_types=1);

require_once __DIR__ . '/reports_config.php';

function reports_link(string $user, string $name = '', string $position = '', string $next = ''): string
{
    $url = reports_config()['link_base'] . '/handoff?token='
        . rawurlencode(reports_token('login', $user, $name, $position));
    if ($next !== '') {
        $url .= '&next=' . rawurlencode($next);
    }
    return $url;
}

if (realpath($_SERVER['SCRIPT_FILENAME'] ?? '') === __FILE__) {
    header('Cache-Control: no-store');
    $user = reports_current_user(reports_read_session());
    if ($user === null) {
        header('Location: ' . reports_config()['login_url'], true, 302);
        exit;
    }
    $next = $_GET['next'] ?? '';
    // Only a page of the module; the module checks this again.
    if (!is_string($next) || !str_starts_with($next, reports_config()['link_base'] . '/')) {
        $next = '';
    }
    header('Location: ' . reports_link($user[0], $user[1], $user[2], $next), true, 302);
    exit;
}
