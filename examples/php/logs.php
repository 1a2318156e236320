<?php
// Fetches the failures (bounced and expired recipients) from Hikyaku's delivery log, first
// as JSON pages, then as one CSV file, e.g. to clean a mailing list. Plain PHP 8: no
// extensions beyond the standard http stream wrapper.
//   HIKYAKU_URL=http://127.0.0.1:3000 HIKYAKU_API_KEY=hk_… php examples/php/logs.php [since]
// `since` is an RFC 3339 time (default: the last 24 hours). Exits 1 on an API error.

$base = rtrim(getenv('HIKYAKU_URL') ?: 'http://127.0.0.1:3000', '/');
$key = getenv('HIKYAKU_API_KEY') ?: '';
$since = $argv[1] ?? gmdate('Y-m-d\TH:i:s\Z', time() - 86400);

/** GET a path; returns [status, body]. Errors come back as Hikyaku's error body, never as an exception. */
function get(string $url, string $key, string $accept): array
{
    $context = stream_context_create(['http' => [
        'method' => 'GET',
        'header' => "Authorization: Bearer $key\r\nAccept: $accept\r\nUser-Agent: hikyaku-php-example/1.0\r\n",
        'ignore_errors' => true, // read the body of 4xx/5xx answers too
        'timeout' => 30,
    ]]);
    $body = @file_get_contents($url, false, $context);
    if ($body === false) {
        fwrite(STDERR, "cannot reach $url\n");
        exit(1);
    }
    preg_match('#^HTTP/\S+ (\d{3})#', $http_response_header[0] ?? '', $m);
    return [(int) ($m[1] ?? 0), $body];
}

function fail(int $status, string $body): never
{
    $error = json_decode($body, true)['error'] ?? null;
    $what = $error ? "{$error['code']}" . (isset($error['field']) ? " ({$error['field']})" : '') . ": {$error['message']}" : $body;
    fwrite(STDERR, "Hikyaku answered $status: $what\n");
    exit(1);
}

$query = ['event' => 'bounced,expired', 'since' => $since, 'limit' => 100];

// 1. JSON, page by page: pass next_cursor back as cursor until it is null.
$failures = 0;
$cursor = null;
do {
    $q = $query + ($cursor === null ? [] : ['cursor' => $cursor]);
    [$status, $body] = get("$base/v1/logs?" . http_build_query($q), $key, 'application/json');
    if ($status !== 200) {
        fail($status, $body);
    }
    $page = json_decode($body, true, 512, JSON_THROW_ON_ERROR);
    foreach ($page['data'] as $e) {
        $failures++;
        printf("%s %s %s %d %s (%s)\n", $e['time'], $e['event'], $e['recipient'], $e['code'], $e['response'], $e['code_source']);
    }
    $cursor = $page['next_cursor'];
} while ($cursor !== null);
echo "json: $failures failures\n";

// 2. The same query as one CSV file (RFC 4180, header row): every matching event at once.
[$status, $csv] = get("$base/v1/logs.csv?" . http_build_query(array_diff_key($query, ['limit' => 0])), $key, 'text/csv');
if ($status !== 200) {
    fail($status, $csv);
}
$stream = fopen('php://memory', 'r+');
fwrite($stream, $csv);
rewind($stream);
$header = fgetcsv($stream, null, ',', '"', '');
$column = array_flip($header);
$addresses = [];
while (($row = fgetcsv($stream, null, ',', '"', '')) !== false) {
    $addresses[$row[$column['recipient']]] = true;
}
echo 'csv: ' . count($addresses) . " addresses to remove\n";
foreach (array_keys($addresses) as $address) {
    echo "remove $address\n";
}
