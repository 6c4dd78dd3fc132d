import { CONNECTION_HELP } from './args.js';
import { EXIT } from './exit-codes.js';

/** `permit --help`. */
export const MAIN_USAGE = `Usage: permit <command> [options]

A command-line client of the lock service: permits on named resources, at most N holders at once.

Commands:
  run <resource> [options] -- <command> [args...]
                     hold a permit while a command runs (renewed, released when it exits)
  acquire <resource> acquire a permit and print its token
  release <token>    release a permit
  renew <token>      extend a permit's lease and print its new end
  status <token>     exit 0 while the permit is held, 76 once it has ended
  holders <resource> list the permits held on a resource
  keygen             print a new API key and its entry for the service's API_KEYS_FILE
  history <resource> list the past permits of a resource, newest first
Run "permit <command> --help" for a command's options.

Durations: 250ms, 30s, 5m, 1h30m, 2d (a number needs a unit, except 0); --wait also takes "forever".

${CONNECTION_HELP}

Exit codes:
  ${EXIT.ok}    done (run: the command's own exit code instead)
  ${EXIT.usage}   bad usage: unknown option, bad duration, missing command; or the service
       refused the request as given (invalid value, capacity conflict)
  ${EXIT.unavailable}   the service is unreachable, timed out, or answered 5xx or not like the lock API
  ${EXIT.software}   a bug in permit itself
  ${EXIT.busy}   busy: no slot was free within --wait
  ${EXIT.lost}   the permit is lost or ended (run: after stopping the command; status, renew,
       release: it has ended, is unknown, or may not be renewed any more)
  ${EXIT.noPermission}   the API key was refused (HTTP 401: none or unknown; 403: its role or
       prefixes do not allow this; run: its renewals were refused so, after stopping the command)
  ${EXIT.cannotExecute}  run: the command cannot be executed
  ${EXIT.commandNotFound}  run: the command was not found
  128+N  run: the command was killed by signal N (e.g. 143 for SIGTERM), or a signal N stopped
       the wait for the permit`;
