
using namespace System.Management.Automation
using namespace System.Management.Automation.Language

Register-ArgumentCompleter -Native -CommandName 'leadctl' -ScriptBlock {
    param($wordToComplete, $commandAst, $cursorPosition)

    $commandElements = $commandAst.CommandElements
    $command = @(
        'leadctl'
        for ($i = 1; $i -lt $commandElements.Count; $i++) {
            $element = $commandElements[$i]
            if ($element -isnot [StringConstantExpressionAst] -or
                $element.StringConstantType -ne [StringConstantType]::BareWord -or
                $element.Value.StartsWith('-') -or
                $element.Value -eq $wordToComplete) {
                break
        }
        $element.Value
    }) -join ';'

    $completions = @(switch ($command) {
        'leadctl' {
            [CompletionResult]::new('--version', '--version', [CompletionResultType]::ParameterName, 'Print the version (one line)')
            [CompletionResult]::new('-V', '-V ', [CompletionResultType]::ParameterName, 'Print the long version: the commit, ledger schema, API version, ledger stores and TLS compiled in')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('upload', 'upload', [CompletionResultType]::ParameterValue, 'Read, check, send, and sort every row into accepted, rejected, retryable')
            [CompletionResult]::new('validate', 'validate', [CompletionResultType]::ParameterValue, 'Check a lead file locally: no network, no key. Writes the rejected rows')
            [CompletionResult]::new('sandbox', 'sandbox', [CompletionResultType]::ParameterValue, 'Run the bundled API emulator on loopback (rehearsals, demos, tests)')
            [CompletionResult]::new('doctor', 'doctor', [CompletionResultType]::ParameterValue, 'Check, without sending a lead, that an upload with these settings would work tonight')
            [CompletionResult]::new('ledger', 'ledger', [CompletionResultType]::ParameterValue, 'Look after the delivery ledger: what earlier runs sent, consulted before sending')
            [CompletionResult]::new('completions', 'completions', [CompletionResultType]::ParameterValue, 'Print a shell completion script')
            [CompletionResult]::new('help', 'help', [CompletionResultType]::ParameterValue, 'Print this message or the help of the given subcommand(s)')
            break
        }
        'leadctl;upload' {
            [CompletionResult]::new('--resume', '--resume', [CompletionResultType]::ParameterName, 'Continue an interrupted run from its run directory')
            [CompletionResult]::new('--api-url', '--api-url', [CompletionResultType]::ParameterName, 'API base URL, e.g. https://api.vendor.example/v1 [env: LEADCTL_API_URL]')
            [CompletionResult]::new('--api-key-file', '--api-key-file', [CompletionResultType]::ParameterName, 'Read the API key from this file (`-` = stdin) [env: LEADCTL_API_KEY holds the key itself]')
            [CompletionResult]::new('--proxy', '--proxy', [CompletionResultType]::ParameterName, 'HTTP(S) proxy to the API, never used for loopback; a password only in HTTPS_PROXY or the config file, never here [default: HTTPS_PROXY or ALL_PROXY, less NO_PROXY]')
            [CompletionResult]::new('--batch-size', '--batch-size', [CompletionResultType]::ParameterName, 'Leads per request, 1..=1000 [default: 1000]')
            [CompletionResult]::new('--concurrency', '--concurrency', [CompletionResultType]::ParameterName, 'Requests in flight at most [default: 4]')
            [CompletionResult]::new('--rate', '--rate', [CompletionResultType]::ParameterName, 'Client-side cap on requests per second [default: none]')
            [CompletionResult]::new('--max-attempts', '--max-attempts', [CompletionResultType]::ParameterName, 'Attempts per batch for 5xx and network errors [default: 5]')
            [CompletionResult]::new('--timeout', '--timeout', [CompletionResultType]::ParameterName, 'Request timeout in seconds [default: 60]')
            [CompletionResult]::new('--max-rate-limit-wait', '--max-rate-limit-wait', [CompletionResultType]::ParameterName, 'Total seconds a run may wait out 429 answers [default: 300]')
            [CompletionResult]::new('--ledger', '--ledger', [CompletionResultType]::ParameterName, 'The delivery ledger: `sqlite://PATH` (or a path) or `postgres://user@host/db?sslmode=...` (its password in PGPASSWORD, ~/.pgpass, LEADCTL_LEDGER or the config file, never here); `off` for none [env: LEADCTL_LEDGER] [default: ~/.local/share/leadctl/ledger.db]')
            [CompletionResult]::new('--retry-base-ms', '--retry-base-ms', [CompletionResultType]::ParameterName, 'First retry delay in milliseconds (doubling, full jitter); for tests')
            [CompletionResult]::new('--crash-at', '--crash-at', [CompletionResultType]::ParameterName, 'Kill the process at a named point between two writes (`sent`, `files`, `ledger`, `done`), the Nth time: `POINT:N`; for tests. Not kept for `--resume`')
            [CompletionResult]::new('--ledger-wait-ms', '--ledger-wait-ms', [CompletionResultType]::ParameterName, 'How long a busy ledger is waited for, in all, in milliseconds; for tests')
            [CompletionResult]::new('--process-id', '--process-id', [CompletionResultType]::ParameterName, 'Process id for rows without their own processId')
            [CompletionResult]::new('--project-id', '--project-id', [CompletionResultType]::ParameterName, 'Project id of the API key; rows must match it [env: LEADCTL_PROJECT_ID]')
            [CompletionResult]::new('--default-region', '--default-region', [CompletionResultType]::ParameterName, 'Region for numbers written without a leading `+` (ISO code) [default: US]')
            [CompletionResult]::new('--map', '--map', [CompletionResultType]::ParameterName, 'Map an API field to a column, e.g. `--map phoneNumber=Cell` (repeatable)')
            [CompletionResult]::new('--format', '--format', [CompletionResultType]::ParameterName, 'Input format; needed when reading stdin (`-`). Default: from the extension')
            [CompletionResult]::new('--delimiter', '--delimiter', [CompletionResultType]::ParameterName, 'Field delimiter for CSV input (one character) [default: `,` `;` TAB or `|`, whichever splits the file''s first rows evenly]')
            [CompletionResult]::new('--encoding', '--encoding', [CompletionResultType]::ParameterName, 'Text encoding of the input, a WHATWG label: windows-1252, iso-8859-15, utf-16le, shift_jis, ... [default: from a byte order mark, else UTF-8, else detected]')
            [CompletionResult]::new('--sheet', '--sheet', [CompletionResultType]::ParameterName, 'Spreadsheet sheet to read, by name or by position from 1 [default: the first visible sheet]')
            [CompletionResult]::new('--limit', '--limit', [CompletionResultType]::ParameterName, 'Only the first N rows (CI smoke checks)')
            [CompletionResult]::new('--out-dir', '--out-dir', [CompletionResultType]::ParameterName, 'Output directory [default: <input dir>/<input stem>.leadctl/<UTC time>/]')
            [CompletionResult]::new('--progress-interval', '--progress-interval', [CompletionResultType]::ParameterName, 'Seconds between plain progress lines when stderr is not a terminal [default: 10]')
            [CompletionResult]::new('--color', '--color', [CompletionResultType]::ParameterName, 'When to use colour (NO_COLOR is honoured by `auto`)')
            [CompletionResult]::new('--log-format', '--log-format', [CompletionResultType]::ParameterName, 'How stderr is written: `text` for people, `json` for machines (one object a line) [default: text]')
            [CompletionResult]::new('--metrics-file', '--metrics-file', [CompletionResultType]::ParameterName, 'Write the run''s figures to this file at the end of every run, in the Prometheus text format (for node_exporter''s textfile collector)')
            [CompletionResult]::new('--metrics-job', '--metrics-job', [CompletionResultType]::ParameterName, 'The `job` label of the metrics [default: the input file''s stem]')
            [CompletionResult]::new('--max-rejected', '--max-rejected', [CompletionResultType]::ParameterName, 'Rejected rows tolerated: a count (`25`) or a share of the rows read (`2%`). Within it, and with nothing retryable, the run exits 0 instead of 3')
            [CompletionResult]::new('--config', '--config', [CompletionResultType]::ParameterName, 'Config file (TOML) [env: LEADCTL_CONFIG] [default: ./leadctl.toml, then $XDG_CONFIG_HOME/leadctl/config.toml]')
            [CompletionResult]::new('-y', '-y', [CompletionResultType]::ParameterName, 'Do not ask for confirmation before `--initialize`')
            [CompletionResult]::new('--yes', '--yes', [CompletionResultType]::ParameterName, 'Do not ask for confirmation before `--initialize`')
            [CompletionResult]::new('--sandbox', '--sandbox', [CompletionResultType]::ParameterName, 'Start the bundled sandbox in this process and upload to it (no risk)')
            [CompletionResult]::new('--dry-run', '--dry-run', [CompletionResultType]::ParameterName, 'Check and batch, send nothing: the rows that would be sent go to retryable ("not sent (--dry-run)"), and the exit code is 0, or 3 with rejected rows. With --ledger, leads are looked up (read only) and those it knows counted already_uploaded')
            [CompletionResult]::new('--no-ledger', '--no-ledger', [CompletionResultType]::ParameterName, 'Use no ledger for this run: leads an earlier run sent are sent again')
            [CompletionResult]::new('--resend-known', '--resend-known', [CompletionResultType]::ParameterName, 'Send leads the ledger knows (and record their answers as usual)')
            [CompletionResult]::new('--existing', '--existing', [CompletionResultType]::ParameterName, 'FILE holds existing lead ids (one a line, or a leadId column): send `leadIds`')
            [CompletionResult]::new('--initialize', '--initialize', [CompletionResultType]::ParameterName, 'Initialize the leads for calling: this starts real phone calls (`validate`: apply the one-call-per-phone rule)')
            [CompletionResult]::new('--json', '--json', [CompletionResultType]::ParameterName, 'Print the summary as one JSON object on stdout, and nothing else there')
            [CompletionResult]::new('-q', '-q', [CompletionResultType]::ParameterName, 'No progress and no final table on stderr. Errors and warnings still show, and with `--log-format json` so does the summary event: the run''s record in a cron log')
            [CompletionResult]::new('--quiet', '--quiet', [CompletionResultType]::ParameterName, 'No progress and no final table on stderr. Errors and warnings still show, and with `--log-format json` so does the summary event: the run''s record in a cron log')
            [CompletionResult]::new('-v', '-v', [CompletionResultType]::ParameterName, 'More log detail on stderr: -v batches, -vv retries and the settings used, -vvv lead values')
            [CompletionResult]::new('--verbose', '--verbose', [CompletionResultType]::ParameterName, 'More log detail on stderr: -v batches, -vv retries and the settings used, -vvv lead values')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            break
        }
        'leadctl;validate' {
            [CompletionResult]::new('--process-id', '--process-id', [CompletionResultType]::ParameterName, 'Process id for rows without their own processId')
            [CompletionResult]::new('--project-id', '--project-id', [CompletionResultType]::ParameterName, 'Project id of the API key; rows must match it [env: LEADCTL_PROJECT_ID]')
            [CompletionResult]::new('--default-region', '--default-region', [CompletionResultType]::ParameterName, 'Region for numbers written without a leading `+` (ISO code) [default: US]')
            [CompletionResult]::new('--map', '--map', [CompletionResultType]::ParameterName, 'Map an API field to a column, e.g. `--map phoneNumber=Cell` (repeatable)')
            [CompletionResult]::new('--format', '--format', [CompletionResultType]::ParameterName, 'Input format; needed when reading stdin (`-`). Default: from the extension')
            [CompletionResult]::new('--delimiter', '--delimiter', [CompletionResultType]::ParameterName, 'Field delimiter for CSV input (one character) [default: `,` `;` TAB or `|`, whichever splits the file''s first rows evenly]')
            [CompletionResult]::new('--encoding', '--encoding', [CompletionResultType]::ParameterName, 'Text encoding of the input, a WHATWG label: windows-1252, iso-8859-15, utf-16le, shift_jis, ... [default: from a byte order mark, else UTF-8, else detected]')
            [CompletionResult]::new('--sheet', '--sheet', [CompletionResultType]::ParameterName, 'Spreadsheet sheet to read, by name or by position from 1 [default: the first visible sheet]')
            [CompletionResult]::new('--limit', '--limit', [CompletionResultType]::ParameterName, 'Only the first N rows (CI smoke checks)')
            [CompletionResult]::new('--out-dir', '--out-dir', [CompletionResultType]::ParameterName, 'Output directory [default: <input dir>/<input stem>.leadctl/<UTC time>/]')
            [CompletionResult]::new('--progress-interval', '--progress-interval', [CompletionResultType]::ParameterName, 'Seconds between plain progress lines when stderr is not a terminal [default: 10]')
            [CompletionResult]::new('--color', '--color', [CompletionResultType]::ParameterName, 'When to use colour (NO_COLOR is honoured by `auto`)')
            [CompletionResult]::new('--log-format', '--log-format', [CompletionResultType]::ParameterName, 'How stderr is written: `text` for people, `json` for machines (one object a line) [default: text]')
            [CompletionResult]::new('--metrics-file', '--metrics-file', [CompletionResultType]::ParameterName, 'Write the run''s figures to this file at the end of every run, in the Prometheus text format (for node_exporter''s textfile collector)')
            [CompletionResult]::new('--metrics-job', '--metrics-job', [CompletionResultType]::ParameterName, 'The `job` label of the metrics [default: the input file''s stem]')
            [CompletionResult]::new('--max-rejected', '--max-rejected', [CompletionResultType]::ParameterName, 'Rejected rows tolerated: a count (`25`) or a share of the rows read (`2%`). Within it, and with nothing retryable, the run exits 0 instead of 3')
            [CompletionResult]::new('--config', '--config', [CompletionResultType]::ParameterName, 'Config file (TOML) [env: LEADCTL_CONFIG] [default: ./leadctl.toml, then $XDG_CONFIG_HOME/leadctl/config.toml]')
            [CompletionResult]::new('--existing', '--existing', [CompletionResultType]::ParameterName, 'FILE holds existing lead ids (one a line, or a leadId column): send `leadIds`')
            [CompletionResult]::new('--initialize', '--initialize', [CompletionResultType]::ParameterName, 'Initialize the leads for calling: this starts real phone calls (`validate`: apply the one-call-per-phone rule)')
            [CompletionResult]::new('--json', '--json', [CompletionResultType]::ParameterName, 'Print the summary as one JSON object on stdout, and nothing else there')
            [CompletionResult]::new('-q', '-q', [CompletionResultType]::ParameterName, 'No progress and no final table on stderr. Errors and warnings still show, and with `--log-format json` so does the summary event: the run''s record in a cron log')
            [CompletionResult]::new('--quiet', '--quiet', [CompletionResultType]::ParameterName, 'No progress and no final table on stderr. Errors and warnings still show, and with `--log-format json` so does the summary event: the run''s record in a cron log')
            [CompletionResult]::new('-v', '-v', [CompletionResultType]::ParameterName, 'More log detail on stderr: -v batches, -vv retries and the settings used, -vvv lead values')
            [CompletionResult]::new('--verbose', '--verbose', [CompletionResultType]::ParameterName, 'More log detail on stderr: -v batches, -vv retries and the settings used, -vvv lead values')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            break
        }
        'leadctl;sandbox' {
            [CompletionResult]::new('--port', '--port', [CompletionResultType]::ParameterName, 'Port on 127.0.0.1; 0 picks a free one (the first line on stdout says which)')
            [CompletionResult]::new('--project-id', '--project-id', [CompletionResultType]::ParameterName, 'The project the API key belongs to')
            [CompletionResult]::new('--api-key', '--api-key', [CompletionResultType]::ParameterName, 'The key clients send as `Authorization: Bearer <KEY>` (a sandbox key, not a secret)')
            [CompletionResult]::new('--process-id', '--process-id', [CompletionResultType]::ParameterName, 'A process id of the project (repeat for several)')
            [CompletionResult]::new('--max-leads', '--max-leads', [CompletionResultType]::ParameterName, 'Most leads (or lead ids) allowed in one request; more gets 400')
            [CompletionResult]::new('--rate', '--rate', [CompletionResultType]::ParameterName, 'Requests per second allowed for the project; 0 = no rate limit')
            [CompletionResult]::new('--burst', '--burst', [CompletionResultType]::ParameterName, 'Requests allowed in a burst above the rate')
            [CompletionResult]::new('--block-threshold', '--block-threshold', [CompletionResultType]::ParameterName, 'Block the key when more than N bad leads arrive within --block-window')
            [CompletionResult]::new('--block-window', '--block-window', [CompletionResultType]::ParameterName, 'The window of --block-threshold, in seconds')
            [CompletionResult]::new('--block-for', '--block-for', [CompletionResultType]::ParameterName, 'How long a block lasts, in seconds (a re-sent rejected lead starts it over)')
            [CompletionResult]::new('--preexisting', '--preexisting', [CompletionResultType]::ParameterName, 'Leads that exist at start: CSV with a header row and the columns `phoneNumber` (E.164, or US without `+`) and `processId`, optionally `initialized` (true/false; a call attempt was made) and `leadId`.')
            [CompletionResult]::new('--seed', '--seed', [CompletionResultType]::ParameterName, 'Seed of the fault dice, so a run can be replayed [default: random, printed on stderr]')
            [CompletionResult]::new('--latency-ms', '--latency-ms', [CompletionResultType]::ParameterName, 'Wait this long before answering each request')
            [CompletionResult]::new('--latency-jitter-ms', '--latency-jitter-ms', [CompletionResultType]::ParameterName, 'Add a random wait of up to this long to each request')
            [CompletionResult]::new('--fail-rate', '--fail-rate', [CompletionResultType]::ParameterName, 'Share of requests answered 500 before anything is done (0 to 1)')
            [CompletionResult]::new('--drop-rate', '--drop-rate', [CompletionResultType]::ParameterName, 'Share of requests whose connection is closed without an answer, before anything is done')
            [CompletionResult]::new('--lost-rate', '--lost-rate', [CompletionResultType]::ParameterName, 'Share of requests carried out (leads created) and then answered 500: lost responses')
            [CompletionResult]::new('--fail-first', '--fail-first', [CompletionResultType]::ParameterName, 'Answer the first N requests 500 before doing anything (a server that recovers)')
            [CompletionResult]::new('--inactive', '--inactive', [CompletionResultType]::ParameterName, 'Make the project inactive: every request gets 403 `Project is inactive`')
            [CompletionResult]::new('--idempotency', '--idempotency', [CompletionResultType]::ParameterName, 'Honour `Idempotency-Key`: the same key gets the stored answer again, without redoing it')
            [CompletionResult]::new('-q', '-q', [CompletionResultType]::ParameterName, 'No line per request on stderr')
            [CompletionResult]::new('--quiet', '--quiet', [CompletionResultType]::ParameterName, 'No line per request on stderr')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help')
            break
        }
        'leadctl;doctor' {
            [CompletionResult]::new('--api-url', '--api-url', [CompletionResultType]::ParameterName, 'API base URL, e.g. https://api.vendor.example/v1 [env: LEADCTL_API_URL]')
            [CompletionResult]::new('--api-key-file', '--api-key-file', [CompletionResultType]::ParameterName, 'Read the API key from this file (`-` = stdin) [env: LEADCTL_API_KEY holds the key itself]')
            [CompletionResult]::new('--proxy', '--proxy', [CompletionResultType]::ParameterName, 'HTTP(S) proxy to the API, never used for loopback; a password only in HTTPS_PROXY or the config file, never here [default: HTTPS_PROXY or ALL_PROXY, less NO_PROXY]')
            [CompletionResult]::new('--batch-size', '--batch-size', [CompletionResultType]::ParameterName, 'Leads per request, 1..=1000 [default: 1000]')
            [CompletionResult]::new('--concurrency', '--concurrency', [CompletionResultType]::ParameterName, 'Requests in flight at most [default: 4]')
            [CompletionResult]::new('--rate', '--rate', [CompletionResultType]::ParameterName, 'Client-side cap on requests per second [default: none]')
            [CompletionResult]::new('--max-attempts', '--max-attempts', [CompletionResultType]::ParameterName, 'Attempts per batch for 5xx and network errors [default: 5]')
            [CompletionResult]::new('--timeout', '--timeout', [CompletionResultType]::ParameterName, 'Request timeout in seconds [default: 60]')
            [CompletionResult]::new('--max-rate-limit-wait', '--max-rate-limit-wait', [CompletionResultType]::ParameterName, 'Total seconds a run may wait out 429 answers [default: 300]')
            [CompletionResult]::new('--ledger', '--ledger', [CompletionResultType]::ParameterName, 'The delivery ledger: `sqlite://PATH` (or a path) or `postgres://user@host/db?sslmode=...` (its password in PGPASSWORD, ~/.pgpass, LEADCTL_LEDGER or the config file, never here); `off` for none [env: LEADCTL_LEDGER] [default: ~/.local/share/leadctl/ledger.db]')
            [CompletionResult]::new('--retry-base-ms', '--retry-base-ms', [CompletionResultType]::ParameterName, 'First retry delay in milliseconds (doubling, full jitter); for tests')
            [CompletionResult]::new('--crash-at', '--crash-at', [CompletionResultType]::ParameterName, 'Kill the process at a named point between two writes (`sent`, `files`, `ledger`, `done`), the Nth time: `POINT:N`; for tests. Not kept for `--resume`')
            [CompletionResult]::new('--ledger-wait-ms', '--ledger-wait-ms', [CompletionResultType]::ParameterName, 'How long a busy ledger is waited for, in all, in milliseconds; for tests')
            [CompletionResult]::new('--process-id', '--process-id', [CompletionResultType]::ParameterName, 'Process id for rows without their own processId')
            [CompletionResult]::new('--project-id', '--project-id', [CompletionResultType]::ParameterName, 'Project id of the API key; rows must match it [env: LEADCTL_PROJECT_ID]')
            [CompletionResult]::new('--default-region', '--default-region', [CompletionResultType]::ParameterName, 'Region for numbers written without a leading `+` (ISO code) [default: US]')
            [CompletionResult]::new('--map', '--map', [CompletionResultType]::ParameterName, 'Map an API field to a column, e.g. `--map phoneNumber=Cell` (repeatable)')
            [CompletionResult]::new('--format', '--format', [CompletionResultType]::ParameterName, 'Input format; needed when reading stdin (`-`). Default: from the extension')
            [CompletionResult]::new('--delimiter', '--delimiter', [CompletionResultType]::ParameterName, 'Field delimiter for CSV input (one character) [default: `,` `;` TAB or `|`, whichever splits the file''s first rows evenly]')
            [CompletionResult]::new('--encoding', '--encoding', [CompletionResultType]::ParameterName, 'Text encoding of the input, a WHATWG label: windows-1252, iso-8859-15, utf-16le, shift_jis, ... [default: from a byte order mark, else UTF-8, else detected]')
            [CompletionResult]::new('--sheet', '--sheet', [CompletionResultType]::ParameterName, 'Spreadsheet sheet to read, by name or by position from 1 [default: the first visible sheet]')
            [CompletionResult]::new('--limit', '--limit', [CompletionResultType]::ParameterName, 'Only the first N rows (CI smoke checks)')
            [CompletionResult]::new('--out-dir', '--out-dir', [CompletionResultType]::ParameterName, 'Output directory [default: <input dir>/<input stem>.leadctl/<UTC time>/]')
            [CompletionResult]::new('--progress-interval', '--progress-interval', [CompletionResultType]::ParameterName, 'Seconds between plain progress lines when stderr is not a terminal [default: 10]')
            [CompletionResult]::new('--color', '--color', [CompletionResultType]::ParameterName, 'When to use colour (NO_COLOR is honoured by `auto`)')
            [CompletionResult]::new('--log-format', '--log-format', [CompletionResultType]::ParameterName, 'How stderr is written: `text` for people, `json` for machines (one object a line) [default: text]')
            [CompletionResult]::new('--metrics-file', '--metrics-file', [CompletionResultType]::ParameterName, 'Write the run''s figures to this file at the end of every run, in the Prometheus text format (for node_exporter''s textfile collector)')
            [CompletionResult]::new('--metrics-job', '--metrics-job', [CompletionResultType]::ParameterName, 'The `job` label of the metrics [default: the input file''s stem]')
            [CompletionResult]::new('--max-rejected', '--max-rejected', [CompletionResultType]::ParameterName, 'Rejected rows tolerated: a count (`25`) or a share of the rows read (`2%`). Within it, and with nothing retryable, the run exits 0 instead of 3')
            [CompletionResult]::new('--config', '--config', [CompletionResultType]::ParameterName, 'Config file (TOML) [env: LEADCTL_CONFIG] [default: ./leadctl.toml, then $XDG_CONFIG_HOME/leadctl/config.toml]')
            [CompletionResult]::new('-y', '-y', [CompletionResultType]::ParameterName, 'Accepted, so that an upload command line works as it is; doctor asks nothing')
            [CompletionResult]::new('--yes', '--yes', [CompletionResultType]::ParameterName, 'Accepted, so that an upload command line works as it is; doctor asks nothing')
            [CompletionResult]::new('--sandbox', '--sandbox', [CompletionResultType]::ParameterName, 'Start the bundled sandbox in this process and upload to it (no risk)')
            [CompletionResult]::new('--dry-run', '--dry-run', [CompletionResultType]::ParameterName, 'Check and batch, send nothing: the rows that would be sent go to retryable ("not sent (--dry-run)"), and the exit code is 0, or 3 with rejected rows. With --ledger, leads are looked up (read only) and those it knows counted already_uploaded')
            [CompletionResult]::new('--no-ledger', '--no-ledger', [CompletionResultType]::ParameterName, 'Use no ledger for this run: leads an earlier run sent are sent again')
            [CompletionResult]::new('--resend-known', '--resend-known', [CompletionResultType]::ParameterName, 'Send leads the ledger knows (and record their answers as usual)')
            [CompletionResult]::new('--existing', '--existing', [CompletionResultType]::ParameterName, 'FILE holds existing lead ids (one a line, or a leadId column): send `leadIds`')
            [CompletionResult]::new('--initialize', '--initialize', [CompletionResultType]::ParameterName, 'Initialize the leads for calling: this starts real phone calls (`validate`: apply the one-call-per-phone rule)')
            [CompletionResult]::new('--json', '--json', [CompletionResultType]::ParameterName, 'Print the settings and every check as one JSON object on stdout, and nothing else there')
            [CompletionResult]::new('-q', '-q', [CompletionResultType]::ParameterName, 'Print only the checks that warn or fail')
            [CompletionResult]::new('--quiet', '--quiet', [CompletionResultType]::ParameterName, 'Print only the checks that warn or fail')
            [CompletionResult]::new('-v', '-v', [CompletionResultType]::ParameterName, 'Accepted, so that an upload command line works as it is')
            [CompletionResult]::new('--verbose', '--verbose', [CompletionResultType]::ParameterName, 'Accepted, so that an upload command line works as it is')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            break
        }
        'leadctl;ledger' {
            [CompletionResult]::new('--ledger', '--ledger', [CompletionResultType]::ParameterName, 'The delivery ledger: `sqlite://PATH` (or a path) or `postgres://user@host/db?sslmode=...` [env: LEADCTL_LEDGER] [default: ~/.local/share/leadctl/ledger.db]')
            [CompletionResult]::new('--config', '--config', [CompletionResultType]::ParameterName, 'Config file (TOML) [env: LEADCTL_CONFIG]')
            [CompletionResult]::new('--json', '--json', [CompletionResultType]::ParameterName, 'Print the result as one JSON object on stdout')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('stats', 'stats', [CompletionResultType]::ParameterValue, 'Entries by project, process and outcome; oldest and newest; where the ledger is and its size')
            [CompletionResult]::new('import', 'import', [CompletionResultType]::ParameterValue, 'Record what earlier run directories sent, or (`--leads`) leads the vendor already has')
            [CompletionResult]::new('forget', 'forget', [CompletionResultType]::ParameterValue, 'Remove every entry of a phone number (an erasure request); says how many went')
            [CompletionResult]::new('prune', 'prune', [CompletionResultType]::ParameterValue, 'Remove entries not seen for a while (a retention period)')
            [CompletionResult]::new('export', 'export', [CompletionResultType]::ParameterValue, 'Print every entry on stdout')
            [CompletionResult]::new('help', 'help', [CompletionResultType]::ParameterValue, 'Print this message or the help of the given subcommand(s)')
            break
        }
        'leadctl;ledger;stats' {
            [CompletionResult]::new('--ledger', '--ledger', [CompletionResultType]::ParameterName, 'The delivery ledger: `sqlite://PATH` (or a path) or `postgres://user@host/db?sslmode=...` [env: LEADCTL_LEDGER] [default: ~/.local/share/leadctl/ledger.db]')
            [CompletionResult]::new('--config', '--config', [CompletionResultType]::ParameterName, 'Config file (TOML) [env: LEADCTL_CONFIG]')
            [CompletionResult]::new('--json', '--json', [CompletionResultType]::ParameterName, 'Print the result as one JSON object on stdout')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help')
            break
        }
        'leadctl;ledger;import' {
            [CompletionResult]::new('--leads', '--leads', [CompletionResultType]::ParameterName, 'A CSV or JSON file of existing leads: phoneNumber, processId, optionally leadId and projectId')
            [CompletionResult]::new('--api-url', '--api-url', [CompletionResultType]::ParameterName, 'API base URL the `--leads` belong to [env: LEADCTL_API_URL]')
            [CompletionResult]::new('--project-id', '--project-id', [CompletionResultType]::ParameterName, 'Project for `--leads` rows without one [env: LEADCTL_PROJECT_ID]')
            [CompletionResult]::new('--process-id', '--process-id', [CompletionResultType]::ParameterName, 'Process for `--leads` rows without one')
            [CompletionResult]::new('--default-region', '--default-region', [CompletionResultType]::ParameterName, 'Region for numbers written without a leading `+` [default: US]')
            [CompletionResult]::new('--ledger', '--ledger', [CompletionResultType]::ParameterName, 'The delivery ledger: `sqlite://PATH` (or a path) or `postgres://user@host/db?sslmode=...` [env: LEADCTL_LEDGER] [default: ~/.local/share/leadctl/ledger.db]')
            [CompletionResult]::new('--config', '--config', [CompletionResultType]::ParameterName, 'Config file (TOML) [env: LEADCTL_CONFIG]')
            [CompletionResult]::new('--json', '--json', [CompletionResultType]::ParameterName, 'Print the result as one JSON object on stdout')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help')
            break
        }
        'leadctl;ledger;forget' {
            [CompletionResult]::new('--phone', '--phone', [CompletionResultType]::ParameterName, 'The number (E.164, or national with --default-region)')
            [CompletionResult]::new('--process', '--process', [CompletionResultType]::ParameterName, 'Only in this process')
            [CompletionResult]::new('--project-id', '--project-id', [CompletionResultType]::ParameterName, 'Only in this project')
            [CompletionResult]::new('--api-url', '--api-url', [CompletionResultType]::ParameterName, 'Only under this API base URL (any spelling of it)')
            [CompletionResult]::new('--default-region', '--default-region', [CompletionResultType]::ParameterName, 'Region for a number written without a leading `+` [default: US]')
            [CompletionResult]::new('--ledger', '--ledger', [CompletionResultType]::ParameterName, 'The delivery ledger: `sqlite://PATH` (or a path) or `postgres://user@host/db?sslmode=...` [env: LEADCTL_LEDGER] [default: ~/.local/share/leadctl/ledger.db]')
            [CompletionResult]::new('--config', '--config', [CompletionResultType]::ParameterName, 'Config file (TOML) [env: LEADCTL_CONFIG]')
            [CompletionResult]::new('--json', '--json', [CompletionResultType]::ParameterName, 'Print the result as one JSON object on stdout')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help')
            break
        }
        'leadctl;ledger;prune' {
            [CompletionResult]::new('--older-than', '--older-than', [CompletionResultType]::ParameterName, 'How long, e.g. `90d`, `12w`')
            [CompletionResult]::new('--ledger', '--ledger', [CompletionResultType]::ParameterName, 'The delivery ledger: `sqlite://PATH` (or a path) or `postgres://user@host/db?sslmode=...` [env: LEADCTL_LEDGER] [default: ~/.local/share/leadctl/ledger.db]')
            [CompletionResult]::new('--config', '--config', [CompletionResultType]::ParameterName, 'Config file (TOML) [env: LEADCTL_CONFIG]')
            [CompletionResult]::new('--json', '--json', [CompletionResultType]::ParameterName, 'Print the result as one JSON object on stdout')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help')
            break
        }
        'leadctl;ledger;export' {
            [CompletionResult]::new('--format', '--format', [CompletionResultType]::ParameterName, 'Output format')
            [CompletionResult]::new('--ledger', '--ledger', [CompletionResultType]::ParameterName, 'The delivery ledger: `sqlite://PATH` (or a path) or `postgres://user@host/db?sslmode=...` [env: LEADCTL_LEDGER] [default: ~/.local/share/leadctl/ledger.db]')
            [CompletionResult]::new('--config', '--config', [CompletionResultType]::ParameterName, 'Config file (TOML) [env: LEADCTL_CONFIG]')
            [CompletionResult]::new('--json', '--json', [CompletionResultType]::ParameterName, 'Print the result as one JSON object on stdout')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help')
            break
        }
        'leadctl;ledger;help' {
            [CompletionResult]::new('stats', 'stats', [CompletionResultType]::ParameterValue, 'Entries by project, process and outcome; oldest and newest; where the ledger is and its size')
            [CompletionResult]::new('import', 'import', [CompletionResultType]::ParameterValue, 'Record what earlier run directories sent, or (`--leads`) leads the vendor already has')
            [CompletionResult]::new('forget', 'forget', [CompletionResultType]::ParameterValue, 'Remove every entry of a phone number (an erasure request); says how many went')
            [CompletionResult]::new('prune', 'prune', [CompletionResultType]::ParameterValue, 'Remove entries not seen for a while (a retention period)')
            [CompletionResult]::new('export', 'export', [CompletionResultType]::ParameterValue, 'Print every entry on stdout')
            [CompletionResult]::new('help', 'help', [CompletionResultType]::ParameterValue, 'Print this message or the help of the given subcommand(s)')
            break
        }
        'leadctl;ledger;help;stats' {
            break
        }
        'leadctl;ledger;help;import' {
            break
        }
        'leadctl;ledger;help;forget' {
            break
        }
        'leadctl;ledger;help;prune' {
            break
        }
        'leadctl;ledger;help;export' {
            break
        }
        'leadctl;ledger;help;help' {
            break
        }
        'leadctl;completions' {
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help')
            break
        }
        'leadctl;help' {
            [CompletionResult]::new('upload', 'upload', [CompletionResultType]::ParameterValue, 'Read, check, send, and sort every row into accepted, rejected, retryable')
            [CompletionResult]::new('validate', 'validate', [CompletionResultType]::ParameterValue, 'Check a lead file locally: no network, no key. Writes the rejected rows')
            [CompletionResult]::new('sandbox', 'sandbox', [CompletionResultType]::ParameterValue, 'Run the bundled API emulator on loopback (rehearsals, demos, tests)')
            [CompletionResult]::new('doctor', 'doctor', [CompletionResultType]::ParameterValue, 'Check, without sending a lead, that an upload with these settings would work tonight')
            [CompletionResult]::new('ledger', 'ledger', [CompletionResultType]::ParameterValue, 'Look after the delivery ledger: what earlier runs sent, consulted before sending')
            [CompletionResult]::new('completions', 'completions', [CompletionResultType]::ParameterValue, 'Print a shell completion script')
            [CompletionResult]::new('help', 'help', [CompletionResultType]::ParameterValue, 'Print this message or the help of the given subcommand(s)')
            break
        }
        'leadctl;help;upload' {
            break
        }
        'leadctl;help;validate' {
            break
        }
        'leadctl;help;sandbox' {
            break
        }
        'leadctl;help;doctor' {
            break
        }
        'leadctl;help;ledger' {
            [CompletionResult]::new('stats', 'stats', [CompletionResultType]::ParameterValue, 'Entries by project, process and outcome; oldest and newest; where the ledger is and its size')
            [CompletionResult]::new('import', 'import', [CompletionResultType]::ParameterValue, 'Record what earlier run directories sent, or (`--leads`) leads the vendor already has')
            [CompletionResult]::new('forget', 'forget', [CompletionResultType]::ParameterValue, 'Remove every entry of a phone number (an erasure request); says how many went')
            [CompletionResult]::new('prune', 'prune', [CompletionResultType]::ParameterValue, 'Remove entries not seen for a while (a retention period)')
            [CompletionResult]::new('export', 'export', [CompletionResultType]::ParameterValue, 'Print every entry on stdout')
            break
        }
        'leadctl;help;ledger;stats' {
            break
        }
        'leadctl;help;ledger;import' {
            break
        }
        'leadctl;help;ledger;forget' {
            break
        }
        'leadctl;help;ledger;prune' {
            break
        }
        'leadctl;help;ledger;export' {
            break
        }
        'leadctl;help;completions' {
            break
        }
        'leadctl;help;help' {
            break
        }
    })

    $completions.Where{ $_.CompletionText -like "$wordToComplete*" } |
        Sort-Object -Property ListItemText
}
