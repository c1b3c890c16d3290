# Print an optspec for argparse to handle cmd's options that are independent of any subcommand.
function __fish_leadctl_global_optspecs
    string join \n version V h/help
end

function __fish_leadctl_needs_command
    # Figure out if the current invocation already has a command.
    set -l cmd (commandline -opc)
    set -e cmd[1]
    argparse -s (__fish_leadctl_global_optspecs) -- $cmd 2>/dev/null
    or return
    if set -q argv[1]
        # Also print the command, so this can be used to figure out what it is.
        echo $argv[1]
        return 1
    end
    return 0
end

function __fish_leadctl_using_subcommand
    set -l cmd (__fish_leadctl_needs_command)
    test -z "$cmd"
    and return 1
    contains -- $cmd[1] $argv
end

complete -c leadctl -n "__fish_leadctl_needs_command" -l version -d 'Print the version (one line)'
complete -c leadctl -n "__fish_leadctl_needs_command" -s V -d 'Print the long version: the commit, ledger schema, API version, ledger stores and TLS compiled in'
complete -c leadctl -n "__fish_leadctl_needs_command" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c leadctl -n "__fish_leadctl_needs_command" -f -a "upload" -d 'Read, check, send, and sort every row into accepted, rejected, retryable'
complete -c leadctl -n "__fish_leadctl_needs_command" -f -a "validate" -d 'Check a lead file locally: no network, no key. Writes the rejected rows'
complete -c leadctl -n "__fish_leadctl_needs_command" -f -a "sandbox" -d 'Run the bundled API emulator on loopback (rehearsals, demos, tests)'
complete -c leadctl -n "__fish_leadctl_needs_command" -f -a "doctor" -d 'Check, without sending a lead, that an upload with these settings would work tonight'
complete -c leadctl -n "__fish_leadctl_needs_command" -f -a "ledger" -d 'Look after the delivery ledger: what earlier runs sent, consulted before sending'
complete -c leadctl -n "__fish_leadctl_needs_command" -f -a "completions" -d 'Print a shell completion script'
complete -c leadctl -n "__fish_leadctl_needs_command" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c leadctl -n "__fish_leadctl_using_subcommand upload" -l resume -d 'Continue an interrupted run from its run directory' -r -F
complete -c leadctl -n "__fish_leadctl_using_subcommand upload" -l api-url -d 'API base URL, e.g. https://api.vendor.example/v1 [env: LEADCTL_API_URL]' -r
complete -c leadctl -n "__fish_leadctl_using_subcommand upload" -l api-key-file -d 'Read the API key from this file (`-` = stdin) [env: LEADCTL_API_KEY holds the key itself]' -r -F
complete -c leadctl -n "__fish_leadctl_using_subcommand upload" -l proxy -d 'HTTP(S) proxy to the API, never used for loopback; a password only in HTTPS_PROXY or the config file, never here [default: HTTPS_PROXY or ALL_PROXY, less NO_PROXY]' -r
complete -c leadctl -n "__fish_leadctl_using_subcommand upload" -l batch-size -d 'Leads per request, 1..=1000 [default: 1000]' -r
complete -c leadctl -n "__fish_leadctl_using_subcommand upload" -l concurrency -d 'Requests in flight at most [default: 4]' -r
complete -c leadctl -n "__fish_leadctl_using_subcommand upload" -l rate -d 'Client-side cap on requests per second [default: none]' -r
complete -c leadctl -n "__fish_leadctl_using_subcommand upload" -l max-attempts -d 'Attempts per batch for 5xx and network errors [default: 5]' -r
complete -c leadctl -n "__fish_leadctl_using_subcommand upload" -l timeout -d 'Request timeout in seconds [default: 60]' -r
complete -c leadctl -n "__fish_leadctl_using_subcommand upload" -l max-rate-limit-wait -d 'Total seconds a run may wait out 429 answers [default: 300]' -r
complete -c leadctl -n "__fish_leadctl_using_subcommand upload" -l ledger -d 'The delivery ledger: `sqlite://PATH` (or a path) or `postgres://user@host/db?sslmode=...` (its password in PGPASSWORD, ~/.pgpass, LEADCTL_LEDGER or the config file, never here); `off` for none [env: LEADCTL_LEDGER] [default: ~/.local/share/leadctl/ledger.db]' -r
complete -c leadctl -n "__fish_leadctl_using_subcommand upload" -l retry-base-ms -d 'First retry delay in milliseconds (doubling, full jitter); for tests' -r
complete -c leadctl -n "__fish_leadctl_using_subcommand upload" -l crash-at -d 'Kill the process at a named point between two writes (`sent`, `files`, `ledger`, `done`), the Nth time: `POINT:N`; for tests. Not kept for `--resume`' -r
complete -c leadctl -n "__fish_leadctl_using_subcommand upload" -l ledger-wait-ms -d 'How long a busy ledger is waited for, in all, in milliseconds; for tests' -r
complete -c leadctl -n "__fish_leadctl_using_subcommand upload" -l process-id -d 'Process id for rows without their own processId' -r
complete -c leadctl -n "__fish_leadctl_using_subcommand upload" -l project-id -d 'Project id of the API key; rows must match it [env: LEADCTL_PROJECT_ID]' -r
complete -c leadctl -n "__fish_leadctl_using_subcommand upload" -l default-region -d 'Region for numbers written without a leading `+` (ISO code) [default: US]' -r
complete -c leadctl -n "__fish_leadctl_using_subcommand upload" -l map -d 'Map an API field to a column, e.g. `--map phoneNumber=Cell` (repeatable)' -r
complete -c leadctl -n "__fish_leadctl_using_subcommand upload" -l format -d 'Input format; needed when reading stdin (`-`). Default: from the extension' -r -f -a "csv\t''
tsv\t''
json\t''
ndjson\t''
lines\t'One lead id a line (only for `upload --existing`)'
xlsx\t'Excel 2007+ workbook (`.xlsx`, `.xlsm`)'
xls\t'Excel 97-2003 workbook (`.xls`)'
ods\t'OpenDocument spreadsheet (`.ods`)'"
complete -c leadctl -n "__fish_leadctl_using_subcommand upload" -l delimiter -d 'Field delimiter for CSV input (one character) [default: `,` `;` TAB or `|`, whichever splits the file\'s first rows evenly]' -r
complete -c leadctl -n "__fish_leadctl_using_subcommand upload" -l encoding -d 'Text encoding of the input, a WHATWG label: windows-1252, iso-8859-15, utf-16le, shift_jis, ... [default: from a byte order mark, else UTF-8, else detected]' -r
complete -c leadctl -n "__fish_leadctl_using_subcommand upload" -l sheet -d 'Spreadsheet sheet to read, by name or by position from 1 [default: the first visible sheet]' -r
complete -c leadctl -n "__fish_leadctl_using_subcommand upload" -l limit -d 'Only the first N rows (CI smoke checks)' -r
complete -c leadctl -n "__fish_leadctl_using_subcommand upload" -l out-dir -d 'Output directory [default: <input dir>/<input stem>.leadctl/<UTC time>/]' -r -F
complete -c leadctl -n "__fish_leadctl_using_subcommand upload" -l progress-interval -d 'Seconds between plain progress lines when stderr is not a terminal [default: 10]' -r
complete -c leadctl -n "__fish_leadctl_using_subcommand upload" -l color -d 'When to use colour (NO_COLOR is honoured by `auto`)' -r -f -a "auto\t''
always\t''
never\t''"
complete -c leadctl -n "__fish_leadctl_using_subcommand upload" -l log-format -d 'How stderr is written: `text` for people, `json` for machines (one object a line) [default: text]' -r -f -a "text\t'Lines for people'
json\t'One JSON object a line'"
complete -c leadctl -n "__fish_leadctl_using_subcommand upload" -l metrics-file -d 'Write the run\'s figures to this file at the end of every run, in the Prometheus text format (for node_exporter\'s textfile collector)' -r -F
complete -c leadctl -n "__fish_leadctl_using_subcommand upload" -l metrics-job -d 'The `job` label of the metrics [default: the input file\'s stem]' -r
complete -c leadctl -n "__fish_leadctl_using_subcommand upload" -l max-rejected -d 'Rejected rows tolerated: a count (`25`) or a share of the rows read (`2%`). Within it, and with nothing retryable, the run exits 0 instead of 3' -r
complete -c leadctl -n "__fish_leadctl_using_subcommand upload" -l config -d 'Config file (TOML) [env: LEADCTL_CONFIG] [default: ./leadctl.toml, then $XDG_CONFIG_HOME/leadctl/config.toml]' -r -F
complete -c leadctl -n "__fish_leadctl_using_subcommand upload" -s y -l yes -d 'Do not ask for confirmation before `--initialize`'
complete -c leadctl -n "__fish_leadctl_using_subcommand upload" -l sandbox -d 'Start the bundled sandbox in this process and upload to it (no risk)'
complete -c leadctl -n "__fish_leadctl_using_subcommand upload" -l dry-run -d 'Check and batch, send nothing: the rows that would be sent go to retryable ("not sent (--dry-run)"), and the exit code is 0, or 3 with rejected rows. With --ledger, leads are looked up (read only) and those it knows counted already_uploaded'
complete -c leadctl -n "__fish_leadctl_using_subcommand upload" -l no-ledger -d 'Use no ledger for this run: leads an earlier run sent are sent again'
complete -c leadctl -n "__fish_leadctl_using_subcommand upload" -l resend-known -d 'Send leads the ledger knows (and record their answers as usual)'
complete -c leadctl -n "__fish_leadctl_using_subcommand upload" -l existing -d 'FILE holds existing lead ids (one a line, or a leadId column): send `leadIds`'
complete -c leadctl -n "__fish_leadctl_using_subcommand upload" -l initialize -d 'Initialize the leads for calling: this starts real phone calls (`validate`: apply the one-call-per-phone rule)'
complete -c leadctl -n "__fish_leadctl_using_subcommand upload" -l json -d 'Print the summary as one JSON object on stdout, and nothing else there'
complete -c leadctl -n "__fish_leadctl_using_subcommand upload" -s q -l quiet -d 'No progress and no final table on stderr. Errors and warnings still show, and with `--log-format json` so does the summary event: the run\'s record in a cron log'
complete -c leadctl -n "__fish_leadctl_using_subcommand upload" -s v -l verbose -d 'More log detail on stderr: -v batches, -vv retries and the settings used, -vvv lead values'
complete -c leadctl -n "__fish_leadctl_using_subcommand upload" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c leadctl -n "__fish_leadctl_using_subcommand validate" -l process-id -d 'Process id for rows without their own processId' -r
complete -c leadctl -n "__fish_leadctl_using_subcommand validate" -l project-id -d 'Project id of the API key; rows must match it [env: LEADCTL_PROJECT_ID]' -r
complete -c leadctl -n "__fish_leadctl_using_subcommand validate" -l default-region -d 'Region for numbers written without a leading `+` (ISO code) [default: US]' -r
complete -c leadctl -n "__fish_leadctl_using_subcommand validate" -l map -d 'Map an API field to a column, e.g. `--map phoneNumber=Cell` (repeatable)' -r
complete -c leadctl -n "__fish_leadctl_using_subcommand validate" -l format -d 'Input format; needed when reading stdin (`-`). Default: from the extension' -r -f -a "csv\t''
tsv\t''
json\t''
ndjson\t''
lines\t'One lead id a line (only for `upload --existing`)'
xlsx\t'Excel 2007+ workbook (`.xlsx`, `.xlsm`)'
xls\t'Excel 97-2003 workbook (`.xls`)'
ods\t'OpenDocument spreadsheet (`.ods`)'"
complete -c leadctl -n "__fish_leadctl_using_subcommand validate" -l delimiter -d 'Field delimiter for CSV input (one character) [default: `,` `;` TAB or `|`, whichever splits the file\'s first rows evenly]' -r
complete -c leadctl -n "__fish_leadctl_using_subcommand validate" -l encoding -d 'Text encoding of the input, a WHATWG label: windows-1252, iso-8859-15, utf-16le, shift_jis, ... [default: from a byte order mark, else UTF-8, else detected]' -r
complete -c leadctl -n "__fish_leadctl_using_subcommand validate" -l sheet -d 'Spreadsheet sheet to read, by name or by position from 1 [default: the first visible sheet]' -r
complete -c leadctl -n "__fish_leadctl_using_subcommand validate" -l limit -d 'Only the first N rows (CI smoke checks)' -r
complete -c leadctl -n "__fish_leadctl_using_subcommand validate" -l out-dir -d 'Output directory [default: <input dir>/<input stem>.leadctl/<UTC time>/]' -r -F
complete -c leadctl -n "__fish_leadctl_using_subcommand validate" -l progress-interval -d 'Seconds between plain progress lines when stderr is not a terminal [default: 10]' -r
complete -c leadctl -n "__fish_leadctl_using_subcommand validate" -l color -d 'When to use colour (NO_COLOR is honoured by `auto`)' -r -f -a "auto\t''
always\t''
never\t''"
complete -c leadctl -n "__fish_leadctl_using_subcommand validate" -l log-format -d 'How stderr is written: `text` for people, `json` for machines (one object a line) [default: text]' -r -f -a "text\t'Lines for people'
json\t'One JSON object a line'"
complete -c leadctl -n "__fish_leadctl_using_subcommand validate" -l metrics-file -d 'Write the run\'s figures to this file at the end of every run, in the Prometheus text format (for node_exporter\'s textfile collector)' -r -F
complete -c leadctl -n "__fish_leadctl_using_subcommand validate" -l metrics-job -d 'The `job` label of the metrics [default: the input file\'s stem]' -r
complete -c leadctl -n "__fish_leadctl_using_subcommand validate" -l max-rejected -d 'Rejected rows tolerated: a count (`25`) or a share of the rows read (`2%`). Within it, and with nothing retryable, the run exits 0 instead of 3' -r
complete -c leadctl -n "__fish_leadctl_using_subcommand validate" -l config -d 'Config file (TOML) [env: LEADCTL_CONFIG] [default: ./leadctl.toml, then $XDG_CONFIG_HOME/leadctl/config.toml]' -r -F
complete -c leadctl -n "__fish_leadctl_using_subcommand validate" -l existing -d 'FILE holds existing lead ids (one a line, or a leadId column): send `leadIds`'
complete -c leadctl -n "__fish_leadctl_using_subcommand validate" -l initialize -d 'Initialize the leads for calling: this starts real phone calls (`validate`: apply the one-call-per-phone rule)'
complete -c leadctl -n "__fish_leadctl_using_subcommand validate" -l json -d 'Print the summary as one JSON object on stdout, and nothing else there'
complete -c leadctl -n "__fish_leadctl_using_subcommand validate" -s q -l quiet -d 'No progress and no final table on stderr. Errors and warnings still show, and with `--log-format json` so does the summary event: the run\'s record in a cron log'
complete -c leadctl -n "__fish_leadctl_using_subcommand validate" -s v -l verbose -d 'More log detail on stderr: -v batches, -vv retries and the settings used, -vvv lead values'
complete -c leadctl -n "__fish_leadctl_using_subcommand validate" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c leadctl -n "__fish_leadctl_using_subcommand sandbox" -l port -d 'Port on 127.0.0.1; 0 picks a free one (the first line on stdout says which)' -r
complete -c leadctl -n "__fish_leadctl_using_subcommand sandbox" -l project-id -d 'The project the API key belongs to' -r
complete -c leadctl -n "__fish_leadctl_using_subcommand sandbox" -l api-key -d 'The key clients send as `Authorization: Bearer <KEY>` (a sandbox key, not a secret)' -r
complete -c leadctl -n "__fish_leadctl_using_subcommand sandbox" -l process-id -d 'A process id of the project (repeat for several)' -r
complete -c leadctl -n "__fish_leadctl_using_subcommand sandbox" -l max-leads -d 'Most leads (or lead ids) allowed in one request; more gets 400' -r
complete -c leadctl -n "__fish_leadctl_using_subcommand sandbox" -l rate -d 'Requests per second allowed for the project; 0 = no rate limit' -r
complete -c leadctl -n "__fish_leadctl_using_subcommand sandbox" -l burst -d 'Requests allowed in a burst above the rate' -r
complete -c leadctl -n "__fish_leadctl_using_subcommand sandbox" -l block-threshold -d 'Block the key when more than N bad leads arrive within --block-window' -r
complete -c leadctl -n "__fish_leadctl_using_subcommand sandbox" -l block-window -d 'The window of --block-threshold, in seconds' -r
complete -c leadctl -n "__fish_leadctl_using_subcommand sandbox" -l block-for -d 'How long a block lasts, in seconds (a re-sent rejected lead starts it over)' -r
complete -c leadctl -n "__fish_leadctl_using_subcommand sandbox" -l preexisting -d 'Leads that exist at start: CSV with a header row and the columns `phoneNumber` (E.164, or US without `+`) and `processId`, optionally `initialized` (true/false; a call attempt was made) and `leadId`.' -r -F
complete -c leadctl -n "__fish_leadctl_using_subcommand sandbox" -l seed -d 'Seed of the fault dice, so a run can be replayed [default: random, printed on stderr]' -r
complete -c leadctl -n "__fish_leadctl_using_subcommand sandbox" -l latency-ms -d 'Wait this long before answering each request' -r
complete -c leadctl -n "__fish_leadctl_using_subcommand sandbox" -l latency-jitter-ms -d 'Add a random wait of up to this long to each request' -r
complete -c leadctl -n "__fish_leadctl_using_subcommand sandbox" -l fail-rate -d 'Share of requests answered 500 before anything is done (0 to 1)' -r
complete -c leadctl -n "__fish_leadctl_using_subcommand sandbox" -l drop-rate -d 'Share of requests whose connection is closed without an answer, before anything is done' -r
complete -c leadctl -n "__fish_leadctl_using_subcommand sandbox" -l lost-rate -d 'Share of requests carried out (leads created) and then answered 500: lost responses' -r
complete -c leadctl -n "__fish_leadctl_using_subcommand sandbox" -l fail-first -d 'Answer the first N requests 500 before doing anything (a server that recovers)' -r
complete -c leadctl -n "__fish_leadctl_using_subcommand sandbox" -l inactive -d 'Make the project inactive: every request gets 403 `Project is inactive`'
complete -c leadctl -n "__fish_leadctl_using_subcommand sandbox" -l idempotency -d 'Honour `Idempotency-Key`: the same key gets the stored answer again, without redoing it'
complete -c leadctl -n "__fish_leadctl_using_subcommand sandbox" -s q -l quiet -d 'No line per request on stderr'
complete -c leadctl -n "__fish_leadctl_using_subcommand sandbox" -s h -l help -d 'Print help'
complete -c leadctl -n "__fish_leadctl_using_subcommand doctor" -l api-url -d 'API base URL, e.g. https://api.vendor.example/v1 [env: LEADCTL_API_URL]' -r
complete -c leadctl -n "__fish_leadctl_using_subcommand doctor" -l api-key-file -d 'Read the API key from this file (`-` = stdin) [env: LEADCTL_API_KEY holds the key itself]' -r -F
complete -c leadctl -n "__fish_leadctl_using_subcommand doctor" -l proxy -d 'HTTP(S) proxy to the API, never used for loopback; a password only in HTTPS_PROXY or the config file, never here [default: HTTPS_PROXY or ALL_PROXY, less NO_PROXY]' -r
complete -c leadctl -n "__fish_leadctl_using_subcommand doctor" -l batch-size -d 'Leads per request, 1..=1000 [default: 1000]' -r
complete -c leadctl -n "__fish_leadctl_using_subcommand doctor" -l concurrency -d 'Requests in flight at most [default: 4]' -r
complete -c leadctl -n "__fish_leadctl_using_subcommand doctor" -l rate -d 'Client-side cap on requests per second [default: none]' -r
complete -c leadctl -n "__fish_leadctl_using_subcommand doctor" -l max-attempts -d 'Attempts per batch for 5xx and network errors [default: 5]' -r
complete -c leadctl -n "__fish_leadctl_using_subcommand doctor" -l timeout -d 'Request timeout in seconds [default: 60]' -r
complete -c leadctl -n "__fish_leadctl_using_subcommand doctor" -l max-rate-limit-wait -d 'Total seconds a run may wait out 429 answers [default: 300]' -r
complete -c leadctl -n "__fish_leadctl_using_subcommand doctor" -l ledger -d 'The delivery ledger: `sqlite://PATH` (or a path) or `postgres://user@host/db?sslmode=...` (its password in PGPASSWORD, ~/.pgpass, LEADCTL_LEDGER or the config file, never here); `off` for none [env: LEADCTL_LEDGER] [default: ~/.local/share/leadctl/ledger.db]' -r
complete -c leadctl -n "__fish_leadctl_using_subcommand doctor" -l retry-base-ms -d 'First retry delay in milliseconds (doubling, full jitter); for tests' -r
complete -c leadctl -n "__fish_leadctl_using_subcommand doctor" -l crash-at -d 'Kill the process at a named point between two writes (`sent`, `files`, `ledger`, `done`), the Nth time: `POINT:N`; for tests. Not kept for `--resume`' -r
complete -c leadctl -n "__fish_leadctl_using_subcommand doctor" -l ledger-wait-ms -d 'How long a busy ledger is waited for, in all, in milliseconds; for tests' -r
complete -c leadctl -n "__fish_leadctl_using_subcommand doctor" -l process-id -d 'Process id for rows without their own processId' -r
complete -c leadctl -n "__fish_leadctl_using_subcommand doctor" -l project-id -d 'Project id of the API key; rows must match it [env: LEADCTL_PROJECT_ID]' -r
complete -c leadctl -n "__fish_leadctl_using_subcommand doctor" -l default-region -d 'Region for numbers written without a leading `+` (ISO code) [default: US]' -r
complete -c leadctl -n "__fish_leadctl_using_subcommand doctor" -l map -d 'Map an API field to a column, e.g. `--map phoneNumber=Cell` (repeatable)' -r
complete -c leadctl -n "__fish_leadctl_using_subcommand doctor" -l format -d 'Input format; needed when reading stdin (`-`). Default: from the extension' -r -f -a "csv\t''
tsv\t''
json\t''
ndjson\t''
lines\t'One lead id a line (only for `upload --existing`)'
xlsx\t'Excel 2007+ workbook (`.xlsx`, `.xlsm`)'
xls\t'Excel 97-2003 workbook (`.xls`)'
ods\t'OpenDocument spreadsheet (`.ods`)'"
complete -c leadctl -n "__fish_leadctl_using_subcommand doctor" -l delimiter -d 'Field delimiter for CSV input (one character) [default: `,` `;` TAB or `|`, whichever splits the file\'s first rows evenly]' -r
complete -c leadctl -n "__fish_leadctl_using_subcommand doctor" -l encoding -d 'Text encoding of the input, a WHATWG label: windows-1252, iso-8859-15, utf-16le, shift_jis, ... [default: from a byte order mark, else UTF-8, else detected]' -r
complete -c leadctl -n "__fish_leadctl_using_subcommand doctor" -l sheet -d 'Spreadsheet sheet to read, by name or by position from 1 [default: the first visible sheet]' -r
complete -c leadctl -n "__fish_leadctl_using_subcommand doctor" -l limit -d 'Only the first N rows (CI smoke checks)' -r
complete -c leadctl -n "__fish_leadctl_using_subcommand doctor" -l out-dir -d 'Output directory [default: <input dir>/<input stem>.leadctl/<UTC time>/]' -r -F
complete -c leadctl -n "__fish_leadctl_using_subcommand doctor" -l progress-interval -d 'Seconds between plain progress lines when stderr is not a terminal [default: 10]' -r
complete -c leadctl -n "__fish_leadctl_using_subcommand doctor" -l color -d 'When to use colour (NO_COLOR is honoured by `auto`)' -r -f -a "auto\t''
always\t''
never\t''"
complete -c leadctl -n "__fish_leadctl_using_subcommand doctor" -l log-format -d 'How stderr is written: `text` for people, `json` for machines (one object a line) [default: text]' -r -f -a "text\t'Lines for people'
json\t'One JSON object a line'"
complete -c leadctl -n "__fish_leadctl_using_subcommand doctor" -l metrics-file -d 'Write the run\'s figures to this file at the end of every run, in the Prometheus text format (for node_exporter\'s textfile collector)' -r -F
complete -c leadctl -n "__fish_leadctl_using_subcommand doctor" -l metrics-job -d 'The `job` label of the metrics [default: the input file\'s stem]' -r
complete -c leadctl -n "__fish_leadctl_using_subcommand doctor" -l max-rejected -d 'Rejected rows tolerated: a count (`25`) or a share of the rows read (`2%`). Within it, and with nothing retryable, the run exits 0 instead of 3' -r
complete -c leadctl -n "__fish_leadctl_using_subcommand doctor" -l config -d 'Config file (TOML) [env: LEADCTL_CONFIG] [default: ./leadctl.toml, then $XDG_CONFIG_HOME/leadctl/config.toml]' -r -F
complete -c leadctl -n "__fish_leadctl_using_subcommand doctor" -s y -l yes -d 'Accepted, so that an upload command line works as it is; doctor asks nothing'
complete -c leadctl -n "__fish_leadctl_using_subcommand doctor" -l sandbox -d 'Start the bundled sandbox in this process and upload to it (no risk)'
complete -c leadctl -n "__fish_leadctl_using_subcommand doctor" -l dry-run -d 'Check and batch, send nothing: the rows that would be sent go to retryable ("not sent (--dry-run)"), and the exit code is 0, or 3 with rejected rows. With --ledger, leads are looked up (read only) and those it knows counted already_uploaded'
complete -c leadctl -n "__fish_leadctl_using_subcommand doctor" -l no-ledger -d 'Use no ledger for this run: leads an earlier run sent are sent again'
complete -c leadctl -n "__fish_leadctl_using_subcommand doctor" -l resend-known -d 'Send leads the ledger knows (and record their answers as usual)'
complete -c leadctl -n "__fish_leadctl_using_subcommand doctor" -l existing -d 'FILE holds existing lead ids (one a line, or a leadId column): send `leadIds`'
complete -c leadctl -n "__fish_leadctl_using_subcommand doctor" -l initialize -d 'Initialize the leads for calling: this starts real phone calls (`validate`: apply the one-call-per-phone rule)'
complete -c leadctl -n "__fish_leadctl_using_subcommand doctor" -l json -d 'Print the settings and every check as one JSON object on stdout, and nothing else there'
complete -c leadctl -n "__fish_leadctl_using_subcommand doctor" -s q -l quiet -d 'Print only the checks that warn or fail'
complete -c leadctl -n "__fish_leadctl_using_subcommand doctor" -s v -l verbose -d 'Accepted, so that an upload command line works as it is'
complete -c leadctl -n "__fish_leadctl_using_subcommand doctor" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c leadctl -n "__fish_leadctl_using_subcommand ledger; and not __fish_seen_subcommand_from stats import forget prune export help" -l ledger -d 'The delivery ledger: `sqlite://PATH` (or a path) or `postgres://user@host/db?sslmode=...` [env: LEADCTL_LEDGER] [default: ~/.local/share/leadctl/ledger.db]' -r
complete -c leadctl -n "__fish_leadctl_using_subcommand ledger; and not __fish_seen_subcommand_from stats import forget prune export help" -l config -d 'Config file (TOML) [env: LEADCTL_CONFIG]' -r -F
complete -c leadctl -n "__fish_leadctl_using_subcommand ledger; and not __fish_seen_subcommand_from stats import forget prune export help" -l json -d 'Print the result as one JSON object on stdout'
complete -c leadctl -n "__fish_leadctl_using_subcommand ledger; and not __fish_seen_subcommand_from stats import forget prune export help" -s h -l help -d 'Print help'
complete -c leadctl -n "__fish_leadctl_using_subcommand ledger; and not __fish_seen_subcommand_from stats import forget prune export help" -f -a "stats" -d 'Entries by project, process and outcome; oldest and newest; where the ledger is and its size'
complete -c leadctl -n "__fish_leadctl_using_subcommand ledger; and not __fish_seen_subcommand_from stats import forget prune export help" -f -a "import" -d 'Record what earlier run directories sent, or (`--leads`) leads the vendor already has'
complete -c leadctl -n "__fish_leadctl_using_subcommand ledger; and not __fish_seen_subcommand_from stats import forget prune export help" -f -a "forget" -d 'Remove every entry of a phone number (an erasure request); says how many went'
complete -c leadctl -n "__fish_leadctl_using_subcommand ledger; and not __fish_seen_subcommand_from stats import forget prune export help" -f -a "prune" -d 'Remove entries not seen for a while (a retention period)'
complete -c leadctl -n "__fish_leadctl_using_subcommand ledger; and not __fish_seen_subcommand_from stats import forget prune export help" -f -a "export" -d 'Print every entry on stdout'
complete -c leadctl -n "__fish_leadctl_using_subcommand ledger; and not __fish_seen_subcommand_from stats import forget prune export help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c leadctl -n "__fish_leadctl_using_subcommand ledger; and __fish_seen_subcommand_from stats" -l ledger -d 'The delivery ledger: `sqlite://PATH` (or a path) or `postgres://user@host/db?sslmode=...` [env: LEADCTL_LEDGER] [default: ~/.local/share/leadctl/ledger.db]' -r
complete -c leadctl -n "__fish_leadctl_using_subcommand ledger; and __fish_seen_subcommand_from stats" -l config -d 'Config file (TOML) [env: LEADCTL_CONFIG]' -r -F
complete -c leadctl -n "__fish_leadctl_using_subcommand ledger; and __fish_seen_subcommand_from stats" -l json -d 'Print the result as one JSON object on stdout'
complete -c leadctl -n "__fish_leadctl_using_subcommand ledger; and __fish_seen_subcommand_from stats" -s h -l help -d 'Print help'
complete -c leadctl -n "__fish_leadctl_using_subcommand ledger; and __fish_seen_subcommand_from import" -l leads -d 'A CSV or JSON file of existing leads: phoneNumber, processId, optionally leadId and projectId' -r -F
complete -c leadctl -n "__fish_leadctl_using_subcommand ledger; and __fish_seen_subcommand_from import" -l api-url -d 'API base URL the `--leads` belong to [env: LEADCTL_API_URL]' -r
complete -c leadctl -n "__fish_leadctl_using_subcommand ledger; and __fish_seen_subcommand_from import" -l project-id -d 'Project for `--leads` rows without one [env: LEADCTL_PROJECT_ID]' -r
complete -c leadctl -n "__fish_leadctl_using_subcommand ledger; and __fish_seen_subcommand_from import" -l process-id -d 'Process for `--leads` rows without one' -r
complete -c leadctl -n "__fish_leadctl_using_subcommand ledger; and __fish_seen_subcommand_from import" -l default-region -d 'Region for numbers written without a leading `+` [default: US]' -r
complete -c leadctl -n "__fish_leadctl_using_subcommand ledger; and __fish_seen_subcommand_from import" -l ledger -d 'The delivery ledger: `sqlite://PATH` (or a path) or `postgres://user@host/db?sslmode=...` [env: LEADCTL_LEDGER] [default: ~/.local/share/leadctl/ledger.db]' -r
complete -c leadctl -n "__fish_leadctl_using_subcommand ledger; and __fish_seen_subcommand_from import" -l config -d 'Config file (TOML) [env: LEADCTL_CONFIG]' -r -F
complete -c leadctl -n "__fish_leadctl_using_subcommand ledger; and __fish_seen_subcommand_from import" -l json -d 'Print the result as one JSON object on stdout'
complete -c leadctl -n "__fish_leadctl_using_subcommand ledger; and __fish_seen_subcommand_from import" -s h -l help -d 'Print help'
complete -c leadctl -n "__fish_leadctl_using_subcommand ledger; and __fish_seen_subcommand_from forget" -l phone -d 'The number (E.164, or national with --default-region)' -r
complete -c leadctl -n "__fish_leadctl_using_subcommand ledger; and __fish_seen_subcommand_from forget" -l process -d 'Only in this process' -r
complete -c leadctl -n "__fish_leadctl_using_subcommand ledger; and __fish_seen_subcommand_from forget" -l project-id -d 'Only in this project' -r
complete -c leadctl -n "__fish_leadctl_using_subcommand ledger; and __fish_seen_subcommand_from forget" -l api-url -d 'Only under this API base URL (any spelling of it)' -r
complete -c leadctl -n "__fish_leadctl_using_subcommand ledger; and __fish_seen_subcommand_from forget" -l default-region -d 'Region for a number written without a leading `+` [default: US]' -r
complete -c leadctl -n "__fish_leadctl_using_subcommand ledger; and __fish_seen_subcommand_from forget" -l ledger -d 'The delivery ledger: `sqlite://PATH` (or a path) or `postgres://user@host/db?sslmode=...` [env: LEADCTL_LEDGER] [default: ~/.local/share/leadctl/ledger.db]' -r
complete -c leadctl -n "__fish_leadctl_using_subcommand ledger; and __fish_seen_subcommand_from forget" -l config -d 'Config file (TOML) [env: LEADCTL_CONFIG]' -r -F
complete -c leadctl -n "__fish_leadctl_using_subcommand ledger; and __fish_seen_subcommand_from forget" -l json -d 'Print the result as one JSON object on stdout'
complete -c leadctl -n "__fish_leadctl_using_subcommand ledger; and __fish_seen_subcommand_from forget" -s h -l help -d 'Print help'
complete -c leadctl -n "__fish_leadctl_using_subcommand ledger; and __fish_seen_subcommand_from prune" -l older-than -d 'How long, e.g. `90d`, `12w`' -r
complete -c leadctl -n "__fish_leadctl_using_subcommand ledger; and __fish_seen_subcommand_from prune" -l ledger -d 'The delivery ledger: `sqlite://PATH` (or a path) or `postgres://user@host/db?sslmode=...` [env: LEADCTL_LEDGER] [default: ~/.local/share/leadctl/ledger.db]' -r
complete -c leadctl -n "__fish_leadctl_using_subcommand ledger; and __fish_seen_subcommand_from prune" -l config -d 'Config file (TOML) [env: LEADCTL_CONFIG]' -r -F
complete -c leadctl -n "__fish_leadctl_using_subcommand ledger; and __fish_seen_subcommand_from prune" -l json -d 'Print the result as one JSON object on stdout'
complete -c leadctl -n "__fish_leadctl_using_subcommand ledger; and __fish_seen_subcommand_from prune" -s h -l help -d 'Print help'
complete -c leadctl -n "__fish_leadctl_using_subcommand ledger; and __fish_seen_subcommand_from export" -l format -d 'Output format' -r -f -a "csv\t''
ndjson\t''"
complete -c leadctl -n "__fish_leadctl_using_subcommand ledger; and __fish_seen_subcommand_from export" -l ledger -d 'The delivery ledger: `sqlite://PATH` (or a path) or `postgres://user@host/db?sslmode=...` [env: LEADCTL_LEDGER] [default: ~/.local/share/leadctl/ledger.db]' -r
complete -c leadctl -n "__fish_leadctl_using_subcommand ledger; and __fish_seen_subcommand_from export" -l config -d 'Config file (TOML) [env: LEADCTL_CONFIG]' -r -F
complete -c leadctl -n "__fish_leadctl_using_subcommand ledger; and __fish_seen_subcommand_from export" -l json -d 'Print the result as one JSON object on stdout'
complete -c leadctl -n "__fish_leadctl_using_subcommand ledger; and __fish_seen_subcommand_from export" -s h -l help -d 'Print help'
complete -c leadctl -n "__fish_leadctl_using_subcommand ledger; and __fish_seen_subcommand_from help" -f -a "stats" -d 'Entries by project, process and outcome; oldest and newest; where the ledger is and its size'
complete -c leadctl -n "__fish_leadctl_using_subcommand ledger; and __fish_seen_subcommand_from help" -f -a "import" -d 'Record what earlier run directories sent, or (`--leads`) leads the vendor already has'
complete -c leadctl -n "__fish_leadctl_using_subcommand ledger; and __fish_seen_subcommand_from help" -f -a "forget" -d 'Remove every entry of a phone number (an erasure request); says how many went'
complete -c leadctl -n "__fish_leadctl_using_subcommand ledger; and __fish_seen_subcommand_from help" -f -a "prune" -d 'Remove entries not seen for a while (a retention period)'
complete -c leadctl -n "__fish_leadctl_using_subcommand ledger; and __fish_seen_subcommand_from help" -f -a "export" -d 'Print every entry on stdout'
complete -c leadctl -n "__fish_leadctl_using_subcommand ledger; and __fish_seen_subcommand_from help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c leadctl -n "__fish_leadctl_using_subcommand completions" -s h -l help -d 'Print help'
complete -c leadctl -n "__fish_leadctl_using_subcommand help; and not __fish_seen_subcommand_from upload validate sandbox doctor ledger completions help" -f -a "upload" -d 'Read, check, send, and sort every row into accepted, rejected, retryable'
complete -c leadctl -n "__fish_leadctl_using_subcommand help; and not __fish_seen_subcommand_from upload validate sandbox doctor ledger completions help" -f -a "validate" -d 'Check a lead file locally: no network, no key. Writes the rejected rows'
complete -c leadctl -n "__fish_leadctl_using_subcommand help; and not __fish_seen_subcommand_from upload validate sandbox doctor ledger completions help" -f -a "sandbox" -d 'Run the bundled API emulator on loopback (rehearsals, demos, tests)'
complete -c leadctl -n "__fish_leadctl_using_subcommand help; and not __fish_seen_subcommand_from upload validate sandbox doctor ledger completions help" -f -a "doctor" -d 'Check, without sending a lead, that an upload with these settings would work tonight'
complete -c leadctl -n "__fish_leadctl_using_subcommand help; and not __fish_seen_subcommand_from upload validate sandbox doctor ledger completions help" -f -a "ledger" -d 'Look after the delivery ledger: what earlier runs sent, consulted before sending'
complete -c leadctl -n "__fish_leadctl_using_subcommand help; and not __fish_seen_subcommand_from upload validate sandbox doctor ledger completions help" -f -a "completions" -d 'Print a shell completion script'
complete -c leadctl -n "__fish_leadctl_using_subcommand help; and not __fish_seen_subcommand_from upload validate sandbox doctor ledger completions help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c leadctl -n "__fish_leadctl_using_subcommand help; and __fish_seen_subcommand_from ledger" -f -a "stats" -d 'Entries by project, process and outcome; oldest and newest; where the ledger is and its size'
complete -c leadctl -n "__fish_leadctl_using_subcommand help; and __fish_seen_subcommand_from ledger" -f -a "import" -d 'Record what earlier run directories sent, or (`--leads`) leads the vendor already has'
complete -c leadctl -n "__fish_leadctl_using_subcommand help; and __fish_seen_subcommand_from ledger" -f -a "forget" -d 'Remove every entry of a phone number (an erasure request); says how many went'
complete -c leadctl -n "__fish_leadctl_using_subcommand help; and __fish_seen_subcommand_from ledger" -f -a "prune" -d 'Remove entries not seen for a while (a retention period)'
complete -c leadctl -n "__fish_leadctl_using_subcommand help; and __fish_seen_subcommand_from ledger" -f -a "export" -d 'Print every entry on stdout'
