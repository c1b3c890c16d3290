
use builtin;
use str;

set edit:completion:arg-completer[leadctl] = {|@words|
    fn spaces {|n|
        builtin:repeat $n ' ' | str:join ''
    }
    fn cand {|text desc|
        edit:complex-candidate $text &display=$text' '(spaces (- 14 (wcswidth $text)))$desc
    }
    var command = 'leadctl'
    for word $words[1..-1] {
        if (str:has-prefix $word '-') {
            break
        }
        set command = $command';'$word
    }
    var completions = [
        &'leadctl'= {
            cand --version 'Print the version (one line)'
            cand -V 'Print the long version: the commit, ledger schema, API version, ledger stores and TLS compiled in'
            cand -h 'Print help (see more with ''--help'')'
            cand --help 'Print help (see more with ''--help'')'
            cand upload 'Read, check, send, and sort every row into accepted, rejected, retryable'
            cand validate 'Check a lead file locally: no network, no key. Writes the rejected rows'
            cand sandbox 'Run the bundled API emulator on loopback (rehearsals, demos, tests)'
            cand doctor 'Check, without sending a lead, that an upload with these settings would work tonight'
            cand ledger 'Look after the delivery ledger: what earlier runs sent, consulted before sending'
            cand completions 'Print a shell completion script'
            cand help 'Print this message or the help of the given subcommand(s)'
        }
        &'leadctl;upload'= {
            cand --resume 'Continue an interrupted run from its run directory'
            cand --api-url 'API base URL, e.g. https://api.vendor.example/v1 [env: LEADCTL_API_URL]'
            cand --api-key-file 'Read the API key from this file (`-` = stdin) [env: LEADCTL_API_KEY holds the key itself]'
            cand --proxy 'HTTP(S) proxy to the API, never used for loopback; a password only in HTTPS_PROXY or the config file, never here [default: HTTPS_PROXY or ALL_PROXY, less NO_PROXY]'
            cand --batch-size 'Leads per request, 1..=1000 [default: 1000]'
            cand --concurrency 'Requests in flight at most [default: 4]'
            cand --rate 'Client-side cap on requests per second [default: none]'
            cand --max-attempts 'Attempts per batch for 5xx and network errors [default: 5]'
            cand --timeout 'Request timeout in seconds [default: 60]'
            cand --max-rate-limit-wait 'Total seconds a run may wait out 429 answers [default: 300]'
            cand --ledger 'The delivery ledger: `sqlite://PATH` (or a path) or `postgres://user@host/db?sslmode=...` (its password in PGPASSWORD, ~/.pgpass, LEADCTL_LEDGER or the config file, never here); `off` for none [env: LEADCTL_LEDGER] [default: ~/.local/share/leadctl/ledger.db]'
            cand --retry-base-ms 'First retry delay in milliseconds (doubling, full jitter); for tests'
            cand --crash-at 'Kill the process at a named point between two writes (`sent`, `files`, `ledger`, `done`), the Nth time: `POINT:N`; for tests. Not kept for `--resume`'
            cand --ledger-wait-ms 'How long a busy ledger is waited for, in all, in milliseconds; for tests'
            cand --process-id 'Process id for rows without their own processId'
            cand --project-id 'Project id of the API key; rows must match it [env: LEADCTL_PROJECT_ID]'
            cand --default-region 'Region for numbers written without a leading `+` (ISO code) [default: US]'
            cand --map 'Map an API field to a column, e.g. `--map phoneNumber=Cell` (repeatable)'
            cand --format 'Input format; needed when reading stdin (`-`). Default: from the extension'
            cand --delimiter 'Field delimiter for CSV input (one character) [default: `,` `;` TAB or `|`, whichever splits the file''s first rows evenly]'
            cand --encoding 'Text encoding of the input, a WHATWG label: windows-1252, iso-8859-15, utf-16le, shift_jis, ... [default: from a byte order mark, else UTF-8, else detected]'
            cand --sheet 'Spreadsheet sheet to read, by name or by position from 1 [default: the first visible sheet]'
            cand --limit 'Only the first N rows (CI smoke checks)'
            cand --out-dir 'Output directory [default: <input dir>/<input stem>.leadctl/<UTC time>/]'
            cand --progress-interval 'Seconds between plain progress lines when stderr is not a terminal [default: 10]'
            cand --color 'When to use colour (NO_COLOR is honoured by `auto`)'
            cand --log-format 'How stderr is written: `text` for people, `json` for machines (one object a line) [default: text]'
            cand --metrics-file 'Write the run''s figures to this file at the end of every run, in the Prometheus text format (for node_exporter''s textfile collector)'
            cand --metrics-job 'The `job` label of the metrics [default: the input file''s stem]'
            cand --max-rejected 'Rejected rows tolerated: a count (`25`) or a share of the rows read (`2%`). Within it, and with nothing retryable, the run exits 0 instead of 3'
            cand --config 'Config file (TOML) [env: LEADCTL_CONFIG] [default: ./leadctl.toml, then $XDG_CONFIG_HOME/leadctl/config.toml]'
            cand -y 'Do not ask for confirmation before `--initialize`'
            cand --yes 'Do not ask for confirmation before `--initialize`'
            cand --sandbox 'Start the bundled sandbox in this process and upload to it (no risk)'
            cand --dry-run 'Check and batch, send nothing: the rows that would be sent go to retryable ("not sent (--dry-run)"), and the exit code is 0, or 3 with rejected rows. With --ledger, leads are looked up (read only) and those it knows counted already_uploaded'
            cand --no-ledger 'Use no ledger for this run: leads an earlier run sent are sent again'
            cand --resend-known 'Send leads the ledger knows (and record their answers as usual)'
            cand --existing 'FILE holds existing lead ids (one a line, or a leadId column): send `leadIds`'
            cand --initialize 'Initialize the leads for calling: this starts real phone calls (`validate`: apply the one-call-per-phone rule)'
            cand --json 'Print the summary as one JSON object on stdout, and nothing else there'
            cand -q 'No progress and no final table on stderr. Errors and warnings still show, and with `--log-format json` so does the summary event: the run''s record in a cron log'
            cand --quiet 'No progress and no final table on stderr. Errors and warnings still show, and with `--log-format json` so does the summary event: the run''s record in a cron log'
            cand -v 'More log detail on stderr: -v batches, -vv retries and the settings used, -vvv lead values'
            cand --verbose 'More log detail on stderr: -v batches, -vv retries and the settings used, -vvv lead values'
            cand -h 'Print help (see more with ''--help'')'
            cand --help 'Print help (see more with ''--help'')'
        }
        &'leadctl;validate'= {
            cand --process-id 'Process id for rows without their own processId'
            cand --project-id 'Project id of the API key; rows must match it [env: LEADCTL_PROJECT_ID]'
            cand --default-region 'Region for numbers written without a leading `+` (ISO code) [default: US]'
            cand --map 'Map an API field to a column, e.g. `--map phoneNumber=Cell` (repeatable)'
            cand --format 'Input format; needed when reading stdin (`-`). Default: from the extension'
            cand --delimiter 'Field delimiter for CSV input (one character) [default: `,` `;` TAB or `|`, whichever splits the file''s first rows evenly]'
            cand --encoding 'Text encoding of the input, a WHATWG label: windows-1252, iso-8859-15, utf-16le, shift_jis, ... [default: from a byte order mark, else UTF-8, else detected]'
            cand --sheet 'Spreadsheet sheet to read, by name or by position from 1 [default: the first visible sheet]'
            cand --limit 'Only the first N rows (CI smoke checks)'
            cand --out-dir 'Output directory [default: <input dir>/<input stem>.leadctl/<UTC time>/]'
            cand --progress-interval 'Seconds between plain progress lines when stderr is not a terminal [default: 10]'
            cand --color 'When to use colour (NO_COLOR is honoured by `auto`)'
            cand --log-format 'How stderr is written: `text` for people, `json` for machines (one object a line) [default: text]'
            cand --metrics-file 'Write the run''s figures to this file at the end of every run, in the Prometheus text format (for node_exporter''s textfile collector)'
            cand --metrics-job 'The `job` label of the metrics [default: the input file''s stem]'
            cand --max-rejected 'Rejected rows tolerated: a count (`25`) or a share of the rows read (`2%`). Within it, and with nothing retryable, the run exits 0 instead of 3'
            cand --config 'Config file (TOML) [env: LEADCTL_CONFIG] [default: ./leadctl.toml, then $XDG_CONFIG_HOME/leadctl/config.toml]'
            cand --existing 'FILE holds existing lead ids (one a line, or a leadId column): send `leadIds`'
            cand --initialize 'Initialize the leads for calling: this starts real phone calls (`validate`: apply the one-call-per-phone rule)'
            cand --json 'Print the summary as one JSON object on stdout, and nothing else there'
            cand -q 'No progress and no final table on stderr. Errors and warnings still show, and with `--log-format json` so does the summary event: the run''s record in a cron log'
            cand --quiet 'No progress and no final table on stderr. Errors and warnings still show, and with `--log-format json` so does the summary event: the run''s record in a cron log'
            cand -v 'More log detail on stderr: -v batches, -vv retries and the settings used, -vvv lead values'
            cand --verbose 'More log detail on stderr: -v batches, -vv retries and the settings used, -vvv lead values'
            cand -h 'Print help (see more with ''--help'')'
            cand --help 'Print help (see more with ''--help'')'
        }
        &'leadctl;sandbox'= {
            cand --port 'Port on 127.0.0.1; 0 picks a free one (the first line on stdout says which)'
            cand --project-id 'The project the API key belongs to'
            cand --api-key 'The key clients send as `Authorization: Bearer <KEY>` (a sandbox key, not a secret)'
            cand --process-id 'A process id of the project (repeat for several)'
            cand --max-leads 'Most leads (or lead ids) allowed in one request; more gets 400'
            cand --rate 'Requests per second allowed for the project; 0 = no rate limit'
            cand --burst 'Requests allowed in a burst above the rate'
            cand --block-threshold 'Block the key when more than N bad leads arrive within --block-window'
            cand --block-window 'The window of --block-threshold, in seconds'
            cand --block-for 'How long a block lasts, in seconds (a re-sent rejected lead starts it over)'
            cand --preexisting 'Leads that exist at start: CSV with a header row and the columns `phoneNumber` (E.164, or US without `+`) and `processId`, optionally `initialized` (true/false; a call attempt was made) and `leadId`.'
            cand --seed 'Seed of the fault dice, so a run can be replayed [default: random, printed on stderr]'
            cand --latency-ms 'Wait this long before answering each request'
            cand --latency-jitter-ms 'Add a random wait of up to this long to each request'
            cand --fail-rate 'Share of requests answered 500 before anything is done (0 to 1)'
            cand --drop-rate 'Share of requests whose connection is closed without an answer, before anything is done'
            cand --lost-rate 'Share of requests carried out (leads created) and then answered 500: lost responses'
            cand --fail-first 'Answer the first N requests 500 before doing anything (a server that recovers)'
            cand --inactive 'Make the project inactive: every request gets 403 `Project is inactive`'
            cand --idempotency 'Honour `Idempotency-Key`: the same key gets the stored answer again, without redoing it'
            cand -q 'No line per request on stderr'
            cand --quiet 'No line per request on stderr'
            cand -h 'Print help'
            cand --help 'Print help'
        }
        &'leadctl;doctor'= {
            cand --api-url 'API base URL, e.g. https://api.vendor.example/v1 [env: LEADCTL_API_URL]'
            cand --api-key-file 'Read the API key from this file (`-` = stdin) [env: LEADCTL_API_KEY holds the key itself]'
            cand --proxy 'HTTP(S) proxy to the API, never used for loopback; a password only in HTTPS_PROXY or the config file, never here [default: HTTPS_PROXY or ALL_PROXY, less NO_PROXY]'
            cand --batch-size 'Leads per request, 1..=1000 [default: 1000]'
            cand --concurrency 'Requests in flight at most [default: 4]'
            cand --rate 'Client-side cap on requests per second [default: none]'
            cand --max-attempts 'Attempts per batch for 5xx and network errors [default: 5]'
            cand --timeout 'Request timeout in seconds [default: 60]'
            cand --max-rate-limit-wait 'Total seconds a run may wait out 429 answers [default: 300]'
            cand --ledger 'The delivery ledger: `sqlite://PATH` (or a path) or `postgres://user@host/db?sslmode=...` (its password in PGPASSWORD, ~/.pgpass, LEADCTL_LEDGER or the config file, never here); `off` for none [env: LEADCTL_LEDGER] [default: ~/.local/share/leadctl/ledger.db]'
            cand --retry-base-ms 'First retry delay in milliseconds (doubling, full jitter); for tests'
            cand --crash-at 'Kill the process at a named point between two writes (`sent`, `files`, `ledger`, `done`), the Nth time: `POINT:N`; for tests. Not kept for `--resume`'
            cand --ledger-wait-ms 'How long a busy ledger is waited for, in all, in milliseconds; for tests'
            cand --process-id 'Process id for rows without their own processId'
            cand --project-id 'Project id of the API key; rows must match it [env: LEADCTL_PROJECT_ID]'
            cand --default-region 'Region for numbers written without a leading `+` (ISO code) [default: US]'
            cand --map 'Map an API field to a column, e.g. `--map phoneNumber=Cell` (repeatable)'
            cand --format 'Input format; needed when reading stdin (`-`). Default: from the extension'
            cand --delimiter 'Field delimiter for CSV input (one character) [default: `,` `;` TAB or `|`, whichever splits the file''s first rows evenly]'
            cand --encoding 'Text encoding of the input, a WHATWG label: windows-1252, iso-8859-15, utf-16le, shift_jis, ... [default: from a byte order mark, else UTF-8, else detected]'
            cand --sheet 'Spreadsheet sheet to read, by name or by position from 1 [default: the first visible sheet]'
            cand --limit 'Only the first N rows (CI smoke checks)'
            cand --out-dir 'Output directory [default: <input dir>/<input stem>.leadctl/<UTC time>/]'
            cand --progress-interval 'Seconds between plain progress lines when stderr is not a terminal [default: 10]'
            cand --color 'When to use colour (NO_COLOR is honoured by `auto`)'
            cand --log-format 'How stderr is written: `text` for people, `json` for machines (one object a line) [default: text]'
            cand --metrics-file 'Write the run''s figures to this file at the end of every run, in the Prometheus text format (for node_exporter''s textfile collector)'
            cand --metrics-job 'The `job` label of the metrics [default: the input file''s stem]'
            cand --max-rejected 'Rejected rows tolerated: a count (`25`) or a share of the rows read (`2%`). Within it, and with nothing retryable, the run exits 0 instead of 3'
            cand --config 'Config file (TOML) [env: LEADCTL_CONFIG] [default: ./leadctl.toml, then $XDG_CONFIG_HOME/leadctl/config.toml]'
            cand -y 'Accepted, so that an upload command line works as it is; doctor asks nothing'
            cand --yes 'Accepted, so that an upload command line works as it is; doctor asks nothing'
            cand --sandbox 'Start the bundled sandbox in this process and upload to it (no risk)'
            cand --dry-run 'Check and batch, send nothing: the rows that would be sent go to retryable ("not sent (--dry-run)"), and the exit code is 0, or 3 with rejected rows. With --ledger, leads are looked up (read only) and those it knows counted already_uploaded'
            cand --no-ledger 'Use no ledger for this run: leads an earlier run sent are sent again'
            cand --resend-known 'Send leads the ledger knows (and record their answers as usual)'
            cand --existing 'FILE holds existing lead ids (one a line, or a leadId column): send `leadIds`'
            cand --initialize 'Initialize the leads for calling: this starts real phone calls (`validate`: apply the one-call-per-phone rule)'
            cand --json 'Print the settings and every check as one JSON object on stdout, and nothing else there'
            cand -q 'Print only the checks that warn or fail'
            cand --quiet 'Print only the checks that warn or fail'
            cand -v 'Accepted, so that an upload command line works as it is'
            cand --verbose 'Accepted, so that an upload command line works as it is'
            cand -h 'Print help (see more with ''--help'')'
            cand --help 'Print help (see more with ''--help'')'
        }
        &'leadctl;ledger'= {
            cand --ledger 'The delivery ledger: `sqlite://PATH` (or a path) or `postgres://user@host/db?sslmode=...` [env: LEADCTL_LEDGER] [default: ~/.local/share/leadctl/ledger.db]'
            cand --config 'Config file (TOML) [env: LEADCTL_CONFIG]'
            cand --json 'Print the result as one JSON object on stdout'
            cand -h 'Print help'
            cand --help 'Print help'
            cand stats 'Entries by project, process and outcome; oldest and newest; where the ledger is and its size'
            cand import 'Record what earlier run directories sent, or (`--leads`) leads the vendor already has'
            cand forget 'Remove every entry of a phone number (an erasure request); says how many went'
            cand prune 'Remove entries not seen for a while (a retention period)'
            cand export 'Print every entry on stdout'
            cand help 'Print this message or the help of the given subcommand(s)'
        }
        &'leadctl;ledger;stats'= {
            cand --ledger 'The delivery ledger: `sqlite://PATH` (or a path) or `postgres://user@host/db?sslmode=...` [env: LEADCTL_LEDGER] [default: ~/.local/share/leadctl/ledger.db]'
            cand --config 'Config file (TOML) [env: LEADCTL_CONFIG]'
            cand --json 'Print the result as one JSON object on stdout'
            cand -h 'Print help'
            cand --help 'Print help'
        }
        &'leadctl;ledger;import'= {
            cand --leads 'A CSV or JSON file of existing leads: phoneNumber, processId, optionally leadId and projectId'
            cand --api-url 'API base URL the `--leads` belong to [env: LEADCTL_API_URL]'
            cand --project-id 'Project for `--leads` rows without one [env: LEADCTL_PROJECT_ID]'
            cand --process-id 'Process for `--leads` rows without one'
            cand --default-region 'Region for numbers written without a leading `+` [default: US]'
            cand --ledger 'The delivery ledger: `sqlite://PATH` (or a path) or `postgres://user@host/db?sslmode=...` [env: LEADCTL_LEDGER] [default: ~/.local/share/leadctl/ledger.db]'
            cand --config 'Config file (TOML) [env: LEADCTL_CONFIG]'
            cand --json 'Print the result as one JSON object on stdout'
            cand -h 'Print help'
            cand --help 'Print help'
        }
        &'leadctl;ledger;forget'= {
            cand --phone 'The number (E.164, or national with --default-region)'
            cand --process 'Only in this process'
            cand --project-id 'Only in this project'
            cand --api-url 'Only under this API base URL (any spelling of it)'
            cand --default-region 'Region for a number written without a leading `+` [default: US]'
            cand --ledger 'The delivery ledger: `sqlite://PATH` (or a path) or `postgres://user@host/db?sslmode=...` [env: LEADCTL_LEDGER] [default: ~/.local/share/leadctl/ledger.db]'
            cand --config 'Config file (TOML) [env: LEADCTL_CONFIG]'
            cand --json 'Print the result as one JSON object on stdout'
            cand -h 'Print help'
            cand --help 'Print help'
        }
        &'leadctl;ledger;prune'= {
            cand --older-than 'How long, e.g. `90d`, `12w`'
            cand --ledger 'The delivery ledger: `sqlite://PATH` (or a path) or `postgres://user@host/db?sslmode=...` [env: LEADCTL_LEDGER] [default: ~/.local/share/leadctl/ledger.db]'
            cand --config 'Config file (TOML) [env: LEADCTL_CONFIG]'
            cand --json 'Print the result as one JSON object on stdout'
            cand -h 'Print help'
            cand --help 'Print help'
        }
        &'leadctl;ledger;export'= {
            cand --format 'Output format'
            cand --ledger 'The delivery ledger: `sqlite://PATH` (or a path) or `postgres://user@host/db?sslmode=...` [env: LEADCTL_LEDGER] [default: ~/.local/share/leadctl/ledger.db]'
            cand --config 'Config file (TOML) [env: LEADCTL_CONFIG]'
            cand --json 'Print the result as one JSON object on stdout'
            cand -h 'Print help'
            cand --help 'Print help'
        }
        &'leadctl;ledger;help'= {
            cand stats 'Entries by project, process and outcome; oldest and newest; where the ledger is and its size'
            cand import 'Record what earlier run directories sent, or (`--leads`) leads the vendor already has'
            cand forget 'Remove every entry of a phone number (an erasure request); says how many went'
            cand prune 'Remove entries not seen for a while (a retention period)'
            cand export 'Print every entry on stdout'
            cand help 'Print this message or the help of the given subcommand(s)'
        }
        &'leadctl;ledger;help;stats'= {
        }
        &'leadctl;ledger;help;import'= {
        }
        &'leadctl;ledger;help;forget'= {
        }
        &'leadctl;ledger;help;prune'= {
        }
        &'leadctl;ledger;help;export'= {
        }
        &'leadctl;ledger;help;help'= {
        }
        &'leadctl;completions'= {
            cand -h 'Print help'
            cand --help 'Print help'
        }
        &'leadctl;help'= {
            cand upload 'Read, check, send, and sort every row into accepted, rejected, retryable'
            cand validate 'Check a lead file locally: no network, no key. Writes the rejected rows'
            cand sandbox 'Run the bundled API emulator on loopback (rehearsals, demos, tests)'
            cand doctor 'Check, without sending a lead, that an upload with these settings would work tonight'
            cand ledger 'Look after the delivery ledger: what earlier runs sent, consulted before sending'
            cand completions 'Print a shell completion script'
            cand help 'Print this message or the help of the given subcommand(s)'
        }
        &'leadctl;help;upload'= {
        }
        &'leadctl;help;validate'= {
        }
        &'leadctl;help;sandbox'= {
        }
        &'leadctl;help;doctor'= {
        }
        &'leadctl;help;ledger'= {
            cand stats 'Entries by project, process and outcome; oldest and newest; where the ledger is and its size'
            cand import 'Record what earlier run directories sent, or (`--leads`) leads the vendor already has'
            cand forget 'Remove every entry of a phone number (an erasure request); says how many went'
            cand prune 'Remove entries not seen for a while (a retention period)'
            cand export 'Print every entry on stdout'
        }
        &'leadctl;help;ledger;stats'= {
        }
        &'leadctl;help;ledger;import'= {
        }
        &'leadctl;help;ledger;forget'= {
        }
        &'leadctl;help;ledger;prune'= {
        }
        &'leadctl;help;ledger;export'= {
        }
        &'leadctl;help;completions'= {
        }
        &'leadctl;help;help'= {
        }
    ]
    $completions[$command]
}
