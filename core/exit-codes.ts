// Every exit status a `cdrflow` command ends with, in one place. The shared ones follow sysexits(3), as most
// command-line tools do, so a supervisor or a script can tell "fix the command line" (64) from "fix the file" (65,
// 66), "wait for the service" (69, 75), "fix the disk" (74) and "fix the configuration" (78). 0 is success and 1 any
// other error. A command with more to say adds its own below 64, listed in its help and below; `reconcile`'s (1 drift,
// 2 a vendor API unreadable, 3 no verdict) are its outcome's, in reconcile/model.ts, which the job's reconcile service
// reports too.

/** A flag or argument the command cannot use (EX_USAGE); the usage text follows the message. */
export const EXIT_USAGE = 64;

/** An input file that is not in the expected format, e.g. `import` given UTF-16 or a line without end (EX_DATAERR). */
export const EXIT_DATA_ERROR = 65;

/** An input file that is missing, a directory or unreadable (EX_NOINPUT). */
export const EXIT_NO_INPUT = 66;

/** A service the command needs (Kafka, the schema registry) is not reachable (EX_UNAVAILABLE). */
export const EXIT_UNAVAILABLE = 69;

/** Output that could not be written, e.g. a full disk (EX_IOERR). */
export const EXIT_IO_ERROR = 74;

/**
 * Try again later (EX_TEMPFAIL): `backfill` read up to the settled time, and the same command run later reads the rest;
 * or another run is backfilling the same range, and the same command run once it finished resumes from its checkpoint.
 */
export const EXIT_NOT_SETTLED = 75;

/** An invalid configuration, or a setting the command cannot use: a taken port, a data directory in use (EX_CONFIG). */
export const EXIT_CONFIG = 78;

/** `backfill` is done, but part of the range is older than the vendor keeps: a re-run cannot change that. */
export const EXIT_DATA_LOST = 2;

/** `normalize` (the stdin filter) or `import` read at least one line it could not use; the others were used. */
export const EXIT_SOME_LINES_BAD = 2;

/** `recording` found no recording for the call: not recorded, expired, or no raw record of it. */
export const EXIT_NO_RECORDING = 3;

/** The shell's status for a process ended by `signal`: 128 + its number (SIGINT 130, SIGTERM 143). */
export const signalExit = (signal: NodeJS.Signals): number => (signal === 'SIGTERM' ? 143 : 130);
