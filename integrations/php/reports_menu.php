<?php
// The module's entries in the portal's own menu, each with how many documents wait for the
// logged-in user (to store, for a receiver; sent back for revision, for a reporter). Where
// the portal draws its menu, after it has started its session:
//   require_once __DIR__ . '/reports_menu.php';
//   echo reports_menu_html();
// Put it in the portal's folder with reports_config.php (set 'mode' there to the module's
// REPORTS_AUTH_MODE). The page asks the module server to server (server_base) as the
// logged-in user; nobody logged in, or no answer within two seconds, prints nothing, so a
// portal page never fails because of the module. reports_menu_entries() gives the same
// entries as arrays (label, url, count, group) for a portal that draws its own icons. Both
// come in the portal's charset ('charset' in reports_config.php).
//
// Why not nginx SSI: its subrequests skip auth_request. Why not through nginx at all: in
// header mode nginx would ask reports_auth.php, which waits for the session lock this very
// page may hold. The module trusts identity headers only from REPORTS_TRUSTED_PROXIES,
// which is where this server's requests come from (127.0.0.1).

declare(strict_types=1);

require_once __DIR__ . '/reports_config.php';

/** The body of menu.html or menu.json for the logged-in user, or null; never an exception,
 * since a mistake here (a short secret, a name that is not in the portal's charset) must not
 * stop the portal's page half-way. */
function reports_menu_fetch(string $format): ?string
{
    try {
        return reports_menu_ask($format);
    } catch (Throwable $error) {
        error_log('myoffice-reports: menu: ' . get_class($error) . ': ' . $error->getMessage());
        return null;
    }
}

function reports_menu_ask(string $format): ?string
{
    $config = reports_config();
    $user = reports_current_user(reports_read_session());
    if ($user === null) {
        return null;
    }
    $headers = [];
    if ($config['server_host'] !== '') {
        $headers[] = 'Host: ' . $config['server_host'];
    }
    switch ($config['mode']) {
        case 'php-session':
            // The user's own cookie: the module reads the very session it names.
            $name = session_name();
            $id = $_COOKIE[$name] ?? '';
            if (!is_string($id) || !preg_match('/^[A-Za-z0-9,-]{1,256}$/', $id)) {
                return null;
            }
            $headers[] = 'Cookie: ' . $name . '=' . $id;
            break;
        case 'header':
            // What reports_auth.php would tell nginx for this user, percent-encoded UTF-8.
            $headers[] = 'X-Remote-User: ' . rawurlencode($user[0]);
            $headers[] = 'X-Remote-Name: ' . rawurlencode($user[1]);
            $headers[] = 'X-Remote-Position: ' . rawurlencode($user[2]);
            break;
        case 'token':
            $headers[] = 'Authorization: Bearer ' . reports_token('menu', $user[0]);
            break;
        default:
            error_log('myoffice-reports: unknown mode in reports_config.php: ' . $config['mode']);
            return null;
    }
    $context = stream_context_create(['http' => [
        'method' => 'GET',
        'header' => implode("\r\n", $headers) . "\r\n",
        'timeout' => 2,
        'ignore_errors' => true,
    ]]);
    $answer = @file_get_contents($config['server_base'] . '/menu.' . $format, false, $context);
    $status = isset($http_response_header[0]) ? $http_response_header[0] : '';
    if (!is_string($answer) || !preg_match('#^HTTP/\S+ 200 #', $status)) {
        if ($status !== '' && !preg_match('#^HTTP/\S+ 401 #', $status)) {
            error_log('myoffice-reports: menu for ' . $user[0] . ' answered ' . $status);
        } elseif ($status === '') {
            error_log('myoffice-reports: menu: no answer from ' . $config['server_base']);
        }
        return null;
    }
    return $answer;
}

/** UTF-8 from the module, in the portal's own charset ('TIS-620' for older Thai portals). */
function reports_from_utf8(string $text): string
{
    $charset = reports_config()['charset'];
    if (strcasecmp($charset, 'UTF-8') === 0) {
        return $text;
    }
    $converted = iconv('UTF-8', $charset . '//TRANSLIT', $text);
    return $converted === false ? '' : $converted;
}

/** The module's menu as an HTML fragment (<ul class="reports-menu">), escaped by the module. */
function reports_menu_html(): string
{
    return reports_from_utf8(reports_menu_fetch('html') ?? '');
}

/** The module's menu as a list of ['group', 'label', 'url', 'count'] arrays. */
function reports_menu_entries(): array
{
    $body = reports_menu_fetch('json');
    $data = is_string($body) ? json_decode($body, true) : null;
    if (!is_array($data) || !is_array($data['entries'] ?? null)) {
        return [];
    }
    $entries = [];
    foreach ($data['entries'] as $entry) {
        if (is_array($entry)) {
            foreach (['group', 'label'] as $key) {
                $entry[$key] = reports_from_utf8((string) ($entry[$key] ?? ''));
            }
            $entries[] = $entry;
        }
    }
    return $entries;
}
