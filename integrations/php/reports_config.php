<?php
// Settings for the reports_*.php files. Put all four in the portal's own folder (next to its
// login page, e.g. /var/www/myoffice/) and edit the values below, or set them in the
// php-fpm pool (env[REPORTS_HANDOFF_SECRET] = ...), which keeps the secret out of the code.

declare(strict_types=1);

function reports_config(): array
{
    static $config = null;
    if ($config === null) {
        $config = [
            // The module's REPORTS_AUTH_MODE: how reports_menu.php tells it who is asking.
            'mode' => getenv('REPORTS_AUTH_MODE') ?: 'php-session',
            // Where browsers find the module (the menu link, token mode).
            'link_base' => getenv('REPORTS_LINK_BASE') ?: '/myoffice/reports',
            // Where the portal's server reaches the module (the logout call, token mode),
            // and the Host it names: the site's own name when the module has
            // REPORTS_TRUSTED_HOSTS (it refuses any other).
            'server_base' => getenv('REPORTS_SERVER_BASE') ?: 'http://127.0.0.1:8000/myoffice/reports',
            'server_host' => getenv('REPORTS_SERVER_HOST') ?: '',
            // token mode: the same value as the module's REPORTS_HANDOFF_SECRET.
            'secret' => getenv('REPORTS_HANDOFF_SECRET') ?: '',
            // Where the portal keeps the logged-in user in $_SESSION ("user.login" reaches
            // into $_SESSION['user']['login']).
            'user_key' => getenv('REPORTS_SESSION_USER_KEY') ?: 'username',
            'name_key' => getenv('REPORTS_SESSION_NAME_KEY') ?: 'fullname',
            'position_key' => getenv('REPORTS_SESSION_POSITION_KEY') ?: 'position',
            // The portal's login page, for visitors who are not logged in.
            'login_url' => getenv('REPORTS_PORTAL_LOGIN_URL') ?: '/myoffice/login.php',
            // The portal's session cookie name, if its own code calls session_name().
            'session_name' => getenv('REPORTS_SESSION_NAME') ?: '',
            // The charset the portal keeps names in ('TIS-620' for older Thai portals);
            // the module receives UTF-8.
            'charset' => getenv('REPORTS_PORTAL_CHARSET') ?: 'UTF-8',
        ];
    }
    return $config;
}

/** $_SESSION['user']['login'] for "user.login"; null when any step is missing. */
function reports_session_value(array $session, string $key)
{
    $value = $session;
    foreach (explode('.', $key) as $part) {
        if (!is_array($value) || !array_key_exists($part, $value)) {
            return null;
        }
        $value = $value[$part];
    }
    return $value;
}

/** Open the portal's session read-only, with the portal's own session name. */
function reports_read_session(): array
{
    if (session_status() !== PHP_SESSION_ACTIVE) {
        $name = reports_config()['session_name'];
        if ($name !== '') {
            session_name($name);
        }
        session_start(['read_and_close' => true]);
    }
    return $_SESSION ?? [];
}

function reports_utf8(string $text): string
{
    $charset = reports_config()['charset'];
    if (strcasecmp($charset, 'UTF-8') === 0) {
        return $text;
    }
    $converted = iconv($charset, 'UTF-8', $text);  // iconv ships with PHP; mbstring may not
    return $converted === false ? '' : $converted;
}

/** The logged-in user as [login, name, position] in UTF-8, or null. */
function reports_current_user(array $session): ?array
{
    $config = reports_config();
    $user = reports_session_value($session, $config['user_key']);
    if (!is_string($user) && !is_int($user)) {
        return null;
    }
    $user = (string) $user;
    if ($user === '') {
        return null;
    }
    $name = reports_session_value($session, $config['name_key']);
    $position = reports_session_value($session, $config['position_key']);
    return [
        reports_utf8($user),
        reports_utf8(is_string($name) ? $name : ''),
        reports_utf8(is_string($position) ? $position : ''),
    ];
}

function reports_b64url(string $bytes): string
{
    return rtrim(strtr(base64_encode($bytes), '+/', '-_'), '=');
}

/** '<payload>.<HMAC-SHA256>' as the module's blueprints/auth/portal.py verifies it. */
function reports_sign(array $claims, string $secret): string
{
    if (strlen($secret) < 32) {
        throw new RuntimeException('REPORTS_HANDOFF_SECRET must be at least 32 characters');
    }
    $payload = reports_b64url(json_encode($claims, JSON_UNESCAPED_UNICODE | JSON_THROW_ON_ERROR));
    return $payload . '.' . reports_b64url(hash_hmac('sha256', $payload, $secret, true));
}

/** A token for one purpose ('login', 'logout' or 'menu'), for this user, now. */
function reports_token(string $purpose, string $user, string $name = '', string $position = ''): string
{
    return reports_sign([
        'purpose' => $purpose,
        'user' => $user,
        'name' => $name,
        'position' => $position,
        'time' => time(),
        'nonce' => reports_b64url(random_bytes(18)),
    ], reports_config()['secret']);
}
