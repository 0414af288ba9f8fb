// What a read-only query may not do, decided on the engine's own reading of it before it runs (core/read-only-sql.ts
// runs it): the canonical text's tokens (formatQuery) against an allowlist of callable functions and lists of refused
// functions, tables, names and literals, and the root of its syntax tree (EXPLAIN AST) against the read statements.
// Pure: the engine's lists (functions, types, time zones) come in as CallableFunctions.
import { quote } from './input-limits.ts';

/** The largest query taken, in bytes of UTF-8 (a real analytics query is a few kilobytes), whichever way it came. */
export const MAX_SQL_BYTES = 64 * 1024;

/**
 * Functions (scalar or table) that read files, reach other hosts or run programs: refused wherever they stand in a
 * statement. readonly=1 refuses most of the table functions already; they are listed too, so that a function the
 * engine lets through in some position (as `DESCRIBE` once did) is still refused. Compared in lower case: the
 * engine's own lookup of some of these is case-insensitive.
 */
const OUTSIDE_FUNCTIONS = new Set(
  [
    'file', 'fileCluster', 'sqlite', 'url', 'urlCluster', 's3', 's3Cluster', 'gcs', 'oss', 'cosn', 'hdfs', 'hdfsCluster',
    'azureBlobStorage', 'azureBlobStorageCluster', 'remote', 'remoteSecure', 'cluster', 'clusterAllReplicas', 'mysql',
    'postgresql', 'mongodb', 'redis', 'jdbc', 'odbc', 'executable', 'input', 'hive', 'iceberg', 'icebergS3',
    'icebergAzure', 'icebergHDFS', 'icebergLocal', 'icebergCluster', 'icebergS3Cluster', 'deltaLake', 'deltaLakeCluster',
    'deltaLakeLocal', 'hudi', 'hudiCluster', 'paimon', 'filesystem', 'arrowFlight', 'ytsaurus',
    // Variants readonly=1 refuses today, listed in case a position lets them through (a sixth probe).
    'paimonS3', 'paimonAzure', 'paimonHDFS', 'paimonLocal', 'paimonS3Cluster', 'paimonAzureCluster', 'paimonHDFSCluster',
    'deltaLakeS3', 'deltaLakeAzure', 'deltaLakeS3Cluster', 'deltaLakeAzureCluster', 'icebergLocalCluster',
    // A scalar function with the same reach: a model file loaded from a path. merge() reads the tables a pattern
    // names, system.models among them (see outsideReach).
    'catboostEvaluate', 'merge',
    // eval() runs the text it builds as a query (string literals are not checked); formatRow with a schema setting
    // wrote the schema to any path (a fifth probe); these answer whether a table — in the embedded engine's default
    // database, a file of that name — exists, for a name built at run time.
    'eval', 'formatRow', 'formatRowNoNewline', 'hasColumnInTable', 'mergeTreeIndex', 'mergeTreeProjection',
    'mergeTreeTextIndex', 'mergeTreeAnalyzeIndexes', 'mergeTreeAnalyzeIndexesUUID',
    // The same answer through a table named as a string: 403 when the file exists, 422 when not (a sixth probe).
    'timeSeriesData', 'timeSeriesTags', 'timeSeriesMetrics', 'timeSeriesSamples', 'timeSeriesSelector', 'prometheusQuery',
    'prometheusQueryRange', 'joinGet', 'joinGetOrNull',
  ].map((f) => f.toLowerCase()),
);

/** A token of an engine-formatted statement: a word (bare or quoted identifier, keyword) or one punctuation mark. */
export interface SqlToken {
  text: string;
  /** A quoted identifier (backquotes or double quotes): its content is `text`. */
  quoted: boolean;
  /** A string literal (text `''`): what it holds as written, escapes kept (its length is the pattern rule's). */
  content?: string;
}

/**
 * The tokens of an engine-formatted statement, string literals left out (one `''` token stands for each):
 * formatQuery's text has no comments and writes every literal on one line, escaped.
 */
export function tokensOf(formatted: string): SqlToken[] {
  const tokens: SqlToken[] = [];
  // A number is one token (formatQuery writes them in decimal: `31`, `1500.`, `0.00001`, `1e100`).
  for (const m of formatted.matchAll(/'(?:[^'\\]|\\.)*'|`((?:[^`\\]|\\.)*)`|"((?:[^"\\]|\\.)*)"|([A-Za-z_][A-Za-z0-9_]*|\d+(?:\.\d*)?(?:[eE][-+]?\d+)?)|([^\sA-Za-z_])/g)) {
    if (m[1] !== undefined || m[2] !== undefined) tokens.push({ text: (m[1] ?? m[2])!, quoted: true });
    else if (m[3] !== undefined) tokens.push({ text: m[3], quoted: false });
    else if (m[4] !== undefined) tokens.push({ text: m[4], quoted: false });
    else tokens.push({ text: "''", quoted: false, content: m[0].slice(1, -1) });
  }
  return tokens;
}

/**
 * Functions whose work on one row the engine cannot interrupt (max_execution_time is checked between blocks, and KILL
 * waits for the same point): quadratic in the length of their arguments, one row of two 60,000-character strings took
 * 4 s against a 2 s limit, three rows 10 s, and a block of them hours.
 */
const UNINTERRUPTIBLE_FUNCTIONS = new Set(
  [
    'editDistance', 'editDistanceUTF8', 'levenshteinDistance', 'levenshteinDistanceUTF8', 'damerauLevenshteinDistance',
    'jaroSimilarity', 'jaroWinklerSimilarity', 'stringJaccardIndex', 'stringJaccardIndexUTF8',
    // The same for arrays (60,000 elements: 10-17 s), and an H3 ring of radius 300 (26 s; 1,000 ran past a minute).
    'arraySimilarity', 'arrayLevenshteinDistance', 'arrayLevenshteinDistanceWeighted', 'h3kRing', 'h3HexRing',
    // A sixth probe: substring search with a long needle is quadratic (a 200,000-character haystack and a 20,000-
    // character needle: 23-27 s against 2 s, and KILL did not stop it); hasAny on 200,000-element arrays 10 s; an H3
    // polygon of 0.01 degrees at resolution 15 35 s; h3Line over 10 degrees 2.7 s in one row.
    'countSubstrings', 'countSubstringsCaseInsensitive', 'countSubstringsCaseInsensitiveUTF8',
    'multiSearchAnyCaseInsensitiveUTF8', 'multiSearchAllPositionsCaseInsensitiveUTF8',
    'multiSearchFirstIndexCaseInsensitiveUTF8', 'multiSearchFirstPositionCaseInsensitiveUTF8', 'hasAny',
    'h3PolygonToCells', 'h3Line',
    // A seventh probe: hasAll on 600,000 elements 10 s in one row; locate's argument order depends on a setting, so
    // the pattern rule (below) cannot tell its needle (position, strpos and instr take it second and stay).
    'hasAll', 'locate',
    // An eighth probe: the case-insensitive multi-searches (not UTF-8) are quadratic too: 10 s with a 60,000-character
    // needle.
    'multiSearchAnyCaseInsensitive', 'multiSearchFirstPositionCaseInsensitive', 'multiSearchFirstIndexCaseInsensitive',
    'multiSearchAllPositionsCaseInsensitive',
  ].map((f) => f.toLowerCase()),
);

/**
 * Functions that harm the engine itself, whatever the limits (lower case → why): refused in the same positions as
 * UNINTERRUPTIBLE_FUNCTIONS.
 */
const HARMFUL_FUNCTIONS = new Map([
  // A 90-byte query nesting 110,000 objects overflowed the engine's stack: every later query of every session (the
  // sink's too) failed with "shutting down due to a fatal error" until the job was killed.
  ['jsonmergepatch', "on deeply nested input it overflows the engine's stack and stops the engine for the whole job"],
  // Its sieve's memory is not counted against the query: `prime > 1e19` took 3.1 GB against a 200 MB limit.
  ['primes', "its memory is not counted against the query's limit (3 GB against 200 MB)"],
  // An eighth probe: `printf('%2000000000d', 1)` took 4 GB before the limit stopped it (format() formats as well).
  ['printf', "a wide field takes gigabytes before the memory limit is checked (4 GB against 200 MB); use format()"],
]);

/**
 * Time zones a query may name. The engine loads each zone it meets once, for good, and does not count it against the
 * query (about 4.5 MB a zone: 120 zones in one query added 540 MB that stayed, an eighth probe); and it reads a name
 * starting with `file:` as a path (`file:/proc/self/fd/4`, a pipe of the job's own, hung the query past every limit
 * and then the whole process). So zone names come from this list: the vendors' and the usual reporting zones.
 */
const ALLOWED_TIME_ZONES = new Set([
  'UTC', 'Etc/UTC', 'GMT', 'Etc/GMT', 'Asia/Shanghai', 'Asia/Hong_Kong', 'Asia/Taipei', 'Asia/Macau', 'Asia/Singapore',
  'Asia/Tokyo', 'Asia/Seoul', 'Asia/Kolkata', 'Asia/Jakarta', 'Asia/Bangkok', 'Asia/Dubai', 'Europe/London',
  'Europe/Berlin', 'Europe/Paris', 'Europe/Moscow', 'America/New_York', 'America/Chicago', 'America/Denver',
  'America/Los_Angeles', 'America/Sao_Paulo', 'Australia/Sydney',
]);

/**
 * Why a string literal (or a quoted name: a type in a subcolumn, `` d.`DateTime('…')` ``) may not be written, or
 * undefined: a `file:` name (the time-zone loader reads it as a path), a `libc:` name or a `Fixed/…` zone (each new
 * one stays loaded), or an Area/Location zone of the engine's (`zones`) outside ALLOWED_TIME_ZONES, anywhere in the
 * text (also inside a type string: `'DateTime(''Europe/Oslo'')'`). The loader opens what the engine does not know
 * under /usr/share/zoneinfo, so `Asia//Kathmandu`, `Asia/./Kathmandu` and `posix/Asia/Kathmandu` are Asia/Kathmandu
 * (a ninth probe). Names built at run time are zoneOrTypeProblem's.
 */
export function literalContentProblem(content: string, zones: ReadonlySet<string> | undefined): string | undefined {
  // The engine reads a type string's quoted zone a second time, decoding its escapes again (`\\x6C` is `l` there: a
  // tenth probe), so every decoding of the text is checked, down to the one with no escape left: the engine's (`\N`
  // is nothing, an unknown `\q` keeps its backslash: an eleventh probe) and one that drops every backslash.
  for (const engine of [true, false]) {
    for (let text = content, previous = ''; text !== previous; [previous, text] = [text, decodeEscapes(text, engine)]) {
      const problem = decodedContentProblem(text, zones);
      if (problem !== undefined) return problem;
    }
  }
  return undefined;
}

const ESCAPED = new Map([['n', '\n'], ['t', '\t'], ['r', '\r'], ['b', '\b'], ['f', '\f'], ['a', '\x07'], ['v', '\v'], ['0', '\0'], ['e', '\x1b'], ['\\', '\\'], ["'", "'"], ['"', '"'], ['`', '`'], ['/', '/'], ['N', '']]);

/**
 * A string's escapes decoded once: `\xHH`, `\n` and friends, `\N` as nothing; any other `\c` as the engine reads it
 * (`engine`: backslash kept) or as `c`.
 */
function decodeEscapes(text: string, engine: boolean): string {
  return text.replace(/\\(x[0-9A-Fa-f]{2}|[\s\S])/g, (whole, e: string) => (e.length === 3 ? String.fromCharCode(parseInt(e.slice(1), 16)) : (ESCAPED.get(e) ?? (engine ? whole : e))));
}

function decodedContentProblem(content: string, zones: ReadonlySet<string> | undefined): string | undefined {
  if (/file:/i.test(content)) return "a string with `file:` in it is not allowed: the engine's time-zone loader reads such a name as a path";
  if (/libc:/i.test(content)) return 'a string with `libc:` in it is not allowed: the engine loads it as a time zone that stays in memory for good, uncounted';
  if (/fixed\//i.test(content)) return 'a Fixed/… time zone is not allowed: each one the engine loads stays in memory for good, uncounted';
  // A state rebuilt from bytes (`CAST(unhex(…), 'AggregateFunction(any, Dynamic)')`) carries its values' types, zones
  // included, in the bytes: one new zone per row, out of sight of every rule here (a tenth probe).
  if (/aggregatefunction/i.test(content)) return 'a string naming an AggregateFunction type is not allowed: a state rebuilt from bytes names its own types and time zones, which the engine loads';
  // A NUL ends the loader's file name but not the engine's name for the zone: `Japan\0a`, `Japan\0b`, … each loaded
  // Japan again (an eleventh probe).
  if (content.includes('\0')) return 'a string with a NUL character in it is not allowed: the engine loads a time zone named so as a new zone each time';
  // A string inside the string (a type's zone) may be hex, binary or a heredoc, which nothing here decodes; and the
  // engine reads `\x` with any two characters after it as a byte (`\x3Z` is `/`: a twelfth probe).
  if (/(?:^|[^A-Za-z0-9_])(?:[xX]'[0-9A-Fa-f\s]*'|[bB]'[01\s]*')|\$([A-Za-z0-9_]*)\$[\s\S]*?\$\1\$/.test(content)) return "a hex, binary or heredoc string inside a string is not allowed: a type's time zone could hide in it";
  if (/\\x(?![0-9A-Fa-f]{2})/.test(content)) return 'a \\x escape without two hex digits after it is not allowed: the engine reads any two characters there as a byte';
  const path = content.replace(/\/(?:\.?\/)+/g, '/');
  if (/(?:^|[^A-Za-z0-9_])(?:posix|right)\/[A-Za-z]/.test(path)) return 'a posix/… or right/… time zone is not allowed: each one the engine loads stays in memory for good, uncounted';
  if (zones) {
    // Area/Location names only: the engine's ~60 one-word zones (`Japan`, `Poland`) read like ordinary values of a
    // location column, and all of them together stay under 300 MB. A zone spelled as a path (`Asia//Tokyo`) is loaded
    // again for each spelling, so only the plain one is allowed.
    for (const found of content.match(/[A-Za-z][A-Za-z0-9_+-]*(?:\/+(?:\.\/+)*[A-Za-z0-9_+-]+)+/g) ?? []) {
      const word = found.replace(/\/(?:\.?\/)+/g, '/');
      if (word !== found && (zones.has(word) || ALLOWED_TIME_ZONES.has(word))) {
        return `the time zone ${quote(found)} is not allowed: each spelling of a zone the engine loads stays in memory for good, uncounted; write ${word}`;
      }
      if (zones.has(word) && !ALLOWED_TIME_ZONES.has(word)) {
        return `the time zone ${word} is not allowed here: each zone the engine loads stays in memory for good, uncounted; these are: ${[...ALLOWED_TIME_ZONES].join(', ')}`;
      }
    }
  }
  return undefined;
}

/**
 * Functions that read an argument as a time zone or a type name (a type may hold a zone: `DateTime('…')`). There the
 * engine takes any constant it can fold, so a name built at run time passed the literal rule above: `concat('fi',
 * 'le:/…')`, an alias of it, a scalar `(SELECT …)`, `['…'][1]` all reached the time-zone loader (a `file:` name
 * of a pipe hangs the job; every new `Fixed/` zone stays loaded). So in these functions every argument but the value
 * they work on (the first) must be written out (writtenOut). The set: the engine's categories below and every function
 * whose documented syntax names a time zone or a return type (functionsCallable), these names, and (for an engine whose
 * lists are not read, a server) the name patterns of ZONE_OR_TYPE_PATTERN.
 */
const ZONE_OR_TYPE_CATEGORIES = new Set(['Dates and Times', 'Type Conversion', 'Time Window']);
const ZONE_OR_TYPE_SYNTAX = /time_?zone|return_type/i;
const ZONE_OR_TYPE_NAMED = new Set(
  [
    'CAST', '_CAST', 'accurateCast', 'accurateCastOrNull', 'accurateCastOrDefault', 'reinterpret', 'defaultValueOfTypeName',
    'variantElement', 'dynamicElement', 'getSubcolumn', 'JSONExtract', 'JSONExtractCaseInsensitive', 'JSONExtractKeysAndValues',
    'JSONExtractKeysAndValuesCaseInsensitive', 'UUIDv7ToDateTime', 'snowflakeToDateTime', 'snowflakeToDateTime64',
    'snowflakeIDToDateTime', 'snowflakeIDToDateTime64', 'toTimeZone', 'toTimezone',
  ].map((f) => f.toLowerCase()),
);
const ZONE_OR_TYPE_PATTERN = /^(?:to|parse|from|now|make|date|age|time|tumble|hop|window|formatdatetime|snowflake|uuidv7|yyyymmdd|accuratecast|reinterpret|jsonextract|current_timestamp|localtimestamp)/i;
/**
 * Of them, those whose first argument is a zone or a type too (`now('…')`, `defaultValueOfTypeName('…')`); their
 * aliases (`current_timestamp`, `localtimestamp`: a ninth probe) come from the engine's list too (functionsCallable).
 */
const ZONE_OR_TYPE_FIRST = new Set(['now', 'now64', 'nowinblock', 'nowinblock64', 'defaultvalueoftypename', 'current_timestamp', 'localtimestamp']);
/**
 * Where a function takes its zone from every row, not only from a constant (lower case → the argument, from 1): a
 * column there (`toString(start_time, callee)`) let the calls' own data name a file or a new zone per row (an eleventh
 * probe). There a zone must be a string literal. The engine's aliases of these come from its list (functionsCallable).
 */
const ZONE_PER_ROW = new Map([
  ['tostring', 2], ['formatdatetime', 3], ['date_format', 3], ['formatdatetimeinjodasyntax', 3], ['fromunixtimestamp', 3],
  ['from_unixtime', 3], ['fromunixtimestampinjodasyntax', 3],
]);
/** JSONExtract's keys are keys; only its last argument is a type. */
const TYPE_LAST = /^jsonextract(?:keysandvalues)?(?:caseinsensitive)?$/i;
/**
 * Parsers whose Joda format letter `z` reads a zone's name from the value itself, row by row: `parseDateTimeInJodaSyntax(
 * concat(day, ' Fixed/UTC+', toString(number)), 'yyyy-MM-dd z')` loads a new zone per row (found in review).
 */
const JODA_PARSERS = /^parsedatetime(?:64)?injodasyntax/i;

/**
 * Functions that never return a string (lower case), so a call of one is written out wherever a zone or a type is
 * read: arithmetic, rounding, numeric and date conversions, intervals, lengths, and the date functions that return a
 * date, a time or a number (not formatDateTime, dateName, timezone(), fromUnixTimestamp with a format, toString, CAST…).
 */
const NEVER_A_STRING = [
  /^(?:plus|minus|multiply|divide|intdiv|intdivorzero|modulo|moduloorzero|negate|abs|tobool|touuid|touuidorzero|touuidornull)$/,
  /^(?:round|roundbankers|rounddown|floor|ceil|ceiling|trunc|truncate|sqrt|cbrt|exp|exp2|exp10|log|ln|log2|log10|log1p|pow|power|sign|length|lengthutf8|char_length|character_length)$/,
  /^to(?:u?int(?:8|16|32|64|128|256)|float(?:32|64)|bfloat16|decimal(?:32|64|128|256)|date|date32|datetime|datetime32|datetime64|ipv4|ipv6)(?:orzero|ornull|ordefault)?$/,
  /^tointerval[a-z]+$/,
  /^tostartof[a-z0-9]*$/,
  /^to(?:year|quarter|month|dayofmonth|dayofweek|dayofyear|hour|minute|second|millisecond|microsecond|nanosecond|monday|isoyear|isoweek|week|yearweek|yyyymm|yyyymmdd|yyyymmddhhmmss|lastdayofmonth|lastdayofweek|timezone|unixtimestamp|unixtimestamp64(?:second|milli|micro|nano)|dayssinceyearzero|modifiedjulianday|relative[a-z]+num|utctimestamp)$/,
  /^(?:add|subtract)(?:years|quarters|months|weeks|days|hours|minutes|seconds|milliseconds|microseconds|nanoseconds|interval|tupleofintervals)$/,
  /^(?:datediff|date_diff|age|timediff|timestampdiff|timestamp_diff|datetrunc|date_trunc|timeslot|now|now64|nowinblock|nowinblock64|today|yesterday|current_timestamp|localtimestamp|makedate|makedate32|makedatetime|makedatetime64|fromutctimestamp|fromdayssinceyearzero|fromdayssinceyearzero32)$/,
  /^fromunixtimestamp64(?:second|milli|micro|nano)$/,
  // Numbers out of JSON (not JSONExtract itself: with 'String' it returns the string it finds), and arrayJoin, whose
  // rows are never a constant.
  /^(?:jsonextract(?:u?int|float|bool)|arrayjoin)$/,
  /^parsedatetime(?:32|64)?(?:besteffort)?(?:us)?(?:injodasyntax)?(?:orzero|ornull)?$/,
];
/** Casts whose second argument is the type (lower case), and the types they give that are never a string. */
const CASTS = new Set(['cast', 'accuratecast', 'accuratecastornull', 'accuratecastordefault']);
const NOT_A_STRING_TYPE = /^(?:Nullable\()?(?:Date|Date32|DateTime|DateTime64|U?Int(?:8|16|32|64|128|256)|Float(?:32|64)|BFloat16|Decimal(?:32|64|128|256)?|Bool)(?:\(|\)?$)/;

/**
 * Functions whose result is one of their arguments: written out when those are (lower case → which arguments, from 1;
 * `odd` = the values of multiIf, 2, 4, … and the last).
 */
const ONE_OF_ITS_ARGUMENTS = new Map<string, 'all' | 'first' | 'if' | 'multiif'>([
  ['coalesce', 'all'], ['ifnull', 'all'], ['greatest', 'all'], ['least', 'all'], ['assumenotnull', 'all'], ['tonullable', 'all'],
  ['if', 'if'], ['multiif', 'multiif'], ['nullif', 'first'],
]);

/** Lower-case keywords after which, at the same depth, a list of table expressions runs (`FROM a AS x, b AS y`). */
const TABLE_LIST = /^(?:FROM|JOIN)$/;
/** Where an expression before `AS` starts, walking back at its depth (a keyword of the canonical text, `(` or `,`). */
const EXPRESSION_START = /^(?:SELECT|WITH|DISTINCT|WHERE|PREWHERE|HAVING|BY|ON|USING|FROM|JOIN|THEN|ELSE|WHEN|AND|OR|NOT|INTERPOLATE|QUALIFY|LIMIT|OFFSET)$/;

/**
 * Names that may hold any value the query builds, with what defines them: aliases of expressions (`expr AS z`,
 * `WITH expr AS z`, in a select list or an argument list: `, expr AS z` too, a ninth probe) and CTE names
 * (`WITH z AS (…)`, no definition here: never written out). Not table aliases (`FROM cdr AS c`, `FROM a, b AS y`,
 * `JOIN (…) AS s`): `c.start_time` is a column. Lambda parameters are columns too (the engine refuses them as a zone:
 * not constant). Compared as written (the engine's names are case-sensitive).
 */
function namesOfValues(tokens: readonly SqlToken[]): Map<string, SqlToken[][]> {
  const names = new Map<string, SqlToken[][]>();
  const at = (i: number) => tokens[i]?.text ?? '';
  // The index of the first token of the expression that ends at `end` (walking back over parentheses).
  const expressionStart = (end: number): number => {
    let i = end;
    for (let depth = 0; i >= 0; i--) {
      const t = at(i);
      if (t === ')' || t === ']') depth++;
      else if (t === '(' || t === '[') {
        if (depth === 0) break;
        depth--;
      } else if (depth === 0 && tokens[i]!.content === undefined && !tokens[i]!.quoted && (t === ',' || EXPRESSION_START.test(t))) break;
    }
    return i + 1;
  };
  // Whether the expression before `AS` (its first token at `start`) is a table expression: it follows FROM or JOIN,
  // or a comma of a list that does (walking back at the same depth).
  const isTableExpression = (start: number): boolean => {
    let i = start - 1;
    if (at(i) !== ',') return TABLE_LIST.test(at(i));
    for (let depth = 0; i >= 0; i--) {
      const t = at(i);
      if (t === ')') depth++;
      else if (t === '(') {
        if (depth === 0) return false;
        depth--;
      } else if (depth === 0 && !tokens[i]!.quoted && tokens[i]!.content === undefined && EXPRESSION_START.test(t)) return TABLE_LIST.test(t);
    }
    return false;
  };
  const define = (name: string, definition: SqlToken[]) => names.set(name, [...(names.get(name) ?? []), definition]);
  for (let i = 0; i < tokens.length; i++) {
    if (at(i).toUpperCase() !== 'AS' || tokens[i]!.quoted) continue;
    if (at(i + 1) === '(') {
      define(at(i - 1), []);
      continue;
    }
    const start = expressionStart(i - 1);
    if (!isTableExpression(start)) define(at(i + 1), tokens.slice(start, i));
  }
  return names;
}

interface WrittenOutContext {
  values: ReadonlyMap<string, SqlToken[][]>;
  callable: CallableFunctions | undefined;
  /** Names being checked (an alias defined through itself is not written out). */
  seen: Set<string>;
}

/**
 * Whether an argument (its tokens) is written out: literals, numbers, columns, aliases whose every definition is
 * written out, calls of NEVER_A_STRING functions and of aggregate functions (never a constant), calls of
 * ONE_OF_ITS_ARGUMENTS whose result arguments are written out, and + - * / % on them, in parentheses or not.
 */
function writtenOut(arg: readonly SqlToken[], context: WrittenOutContext): boolean {
  let i = 0;
  const at = (k: number) => arg[k]?.text ?? '';
  const word = (k: number) => arg[k] !== undefined && arg[k]!.content === undefined && /^[A-Za-z_]/.test(arg[k]!.text);
  const callWrittenOut = (name: string, open: number): boolean => {
    const lower = name.toLowerCase();
    if (NEVER_A_STRING.some((r) => r.test(lower))) return true;
    // A cast to a date, a time or a number (`CAST(end_str, 'DateTime')`, `x::UInt32`): never a string.
    if (CASTS.has(lower)) {
      const type = argumentTokens(arg, open, 2);
      if (type?.length === 1 && type[0]!.content !== undefined && NOT_A_STRING_TYPE.test(type[0]!.content)) return true;
    }
    if (context.callable && isCallable(name, context.callable) && isAggregateName(name, context.callable)) return true;
    const kind = ONE_OF_ITS_ARGUMENTS.get(lower);
    if (kind === undefined) return false;
    const args = argumentList(arg, open);
    return (
      args.length > 0 &&
      args.every((a, index) => {
        const n = index + 1;
        const result = kind === 'all' || (kind === 'first' && n === 1) || (kind === 'if' && n > 1) || (kind === 'multiif' && (n % 2 === 0 || n === args.length));
        return !result || writtenOut(a, context);
      })
    );
  };
  const operand = (): boolean => {
    while (at(i) === '-' || at(i) === '+') i++;
    const t = arg[i];
    if (t === undefined) return false;
    if (t.content !== undefined || (!t.quoted && /^\d/.test(t.text))) {
      i++;
      return true;
    }
    if (t.text === '(' && !t.quoted) {
      i++;
      if (!expression() || at(i) !== ')') return false;
      i++;
      return true;
    }
    if (!word(i)) return false;
    if (at(i + 1) === '(') {
      if (t.quoted || !callWrittenOut(t.text, i + 1)) return false;
      i = skipGroup(i + 1);
      // A parametric aggregate's arguments (`quantile(0.5)(start_time)`).
      if (at(i) === '(' && context.callable && isAggregateName(t.text, context.callable)) i = skipGroup(i);
      // An aggregate over a window (`max(t) OVER (PARTITION BY …)`, `OVER w`) is as far from a constant as any.
      if (at(i) === 'OVER' && context.callable && isAggregateName(t.text, context.callable)) i = at(i + 1) === '(' ? skipGroup(i + 1) : i + 2;
      return i <= arg.length;
    }
    // A name: a column, maybe qualified (`c.start_time`), or an alias written out wherever it is defined; nothing taken
    // from an alias (`z.1`, `z.n`, `z[1]`).
    const definitions = context.values.get(t.text);
    if (definitions !== undefined) {
      if (at(i + 1) === '.' || at(i + 1) === '[' || context.seen.has(t.text) || definitions.some((d) => d.length === 0)) return false;
      context.seen.add(t.text);
      const ok = definitions.every((d) => writtenOut(d, context));
      context.seen.delete(t.text);
      if (!ok) return false;
    }
    i++;
    while (at(i) === '.' && word(i + 1)) i += 2;
    // An element of a column (`legs[1]`, `leg.1`) is a column's too; of an alias, it could be anything (refused above).
    if (definitions === undefined) {
      while (at(i) === '[' || (at(i) === '.' && /^\d/.test(at(i + 1)))) i = at(i) === '[' ? skipGroup(i) : i + 2;
    }
    return at(i) !== '.' && at(i) !== '[';
  };
  // The index after the bracket group opening at `open` (past the end when it does not close).
  const skipGroup = (open: number): number => {
    for (let k = open, depth = 0; k < arg.length; k++) {
      if (at(k) === '(' || at(k) === '[') depth++;
      if ((at(k) === ')' || at(k) === ']') && --depth === 0) return k + 1;
    }
    return arg.length + 1;
  };
  const expression = (): boolean => {
    if (!operand()) return false;
    while (['+', '-', '*', '/', '%'].includes(at(i))) {
      i++;
      if (!operand()) return false;
    }
    return true;
  };
  return expression() && i === arg.length;
}

/** An aggregate function, with or without combinators (`max`, `sumIf`): its result is never a constant. */
function isAggregateName(name: string, callable: CallableFunctions): boolean {
  let base = name;
  for (;;) {
    if (callable.aggregates.has(base.toLowerCase())) return true;
    const suffix = AGGREGATE_COMBINATORS.find((c) => base.length > c.length && base.endsWith(c));
    if (suffix === undefined) return false;
    base = base.slice(0, -suffix.length);
  }
}

function zoneOrTypeProblem(tokens: readonly SqlToken[], call: number, callable: CallableFunctions | undefined, values: ReadonlyMap<string, SqlToken[][]>): string | undefined {
  const name = tokens[call]!.text;
  const lower = name.toLowerCase();
  const zoneOrType = callable?.zoneOrType;
  if (!(ZONE_OR_TYPE_NAMED.has(lower) || (zoneOrType ? zoneOrType.has(lower) : ZONE_OR_TYPE_PATTERN.test(name)))) return undefined;
  if (JODA_PARSERS.test(name)) {
    // The format is argument 2; a call without it is the engine's to refuse.
    const format = argumentTokens(tokens, call + 1, 2);
    if (format !== undefined && !(format.length === 1 && format[0]!.content !== undefined && !/z/.test(format[0]!.content))) {
      return `the format of ${name} is not allowed here unless it is a string literal without \`z\`: Joda's \`z\` reads a time zone's name from each value, and the engine loads every name it meets (a file to read, or a zone that stays in memory for good); parse the offset (\`Z\`) instead`;
    }
  }
  const context: WrittenOutContext = { values, callable, seen: new Set() };
  const first = ZONE_OR_TYPE_FIRST.has(lower) || (callable?.zoneOrTypeFirst?.has(lower) ?? false);
  const args = argumentList(tokens, call + 1);
  const perRow = (callable?.zonePerRow ?? ZONE_PER_ROW).get(lower);
  const zoneArg = perRow === undefined ? undefined : args[perRow - 1];
  // A string literal, or the name of one (`WITH 'Asia/Shanghai' AS tz`).
  const literal = (arg: readonly SqlToken[]): boolean =>
    arg.length === 1 && (arg[0]!.content !== undefined || (!arg[0]!.quoted && (values.get(arg[0]!.text)?.every((d) => d.length === 1 && d[0]!.content !== undefined) ?? false)));
  if (zoneArg !== undefined && !literal(zoneArg)) {
    return `argument ${perRow} of ${name} is not allowed here unless it is a string literal: the engine reads a time zone there from every row, and a value of the data could name a file to read or a zone that stays in memory for good`;
  }
  const checked = TYPE_LAST.test(name) ? args.length - 1 : first ? 0 : 1;
  for (let n = Math.max(checked, 0); n < args.length; n++) {
    if (!writtenOut(args[n]!, context)) {
      return `argument ${n + 1} of ${name} is not allowed here unless it is written out (a string literal, a number, a column, an aggregate, arithmetic on them, or an alias of such): the engine reads a time zone or a type there, and one built while the query runs (concat, a subquery) could name a file to read or a zone that stays in memory for good`;
    }
  }
  return undefined;
}

/** System tables whose reading does more than read, or shows other callers' queries (lower case → why). */
const REFUSED_SYSTEM_TABLES = new Map([
  ['models', "reading it starts the engine's library bridge, a separate program, and contacts it on a local port"],
  ['stack_trace', "reading it signals every thread of the job's process and returns their raw addresses"],
  ['primes', "its memory is not counted against the query's limit (3 GB against 200 MB)"],
  ['processes', "it shows the text of every running query, other callers' literals included"],
  ['user_processes', "it shows the text of every running query, other callers' literals included"],
  ['errors', "it shows other sessions' recent error messages, with their literals"],
  // Reading it wrote a heap profile (24 KB, the process's memory map included) to /tmp for every query (a sixth probe).
  ['jemalloc_profile_text', 'reading it writes a heap profile of the job to a file'],
  ['symbols', "it lists the job's memory layout"],
]);

/**
 * The engine's function categories (system.functions.categories) whose functions a user query may call: they compute
 * on the values they are given. The engine has some 1,800 functions and adds more with every version; six probes
 * found one harmful function after another on a list of refusals (file readers, stack overflows, uncounted memory,
 * files written). So calls are allowed from these categories only, less the refused lists above: a function outside
 * them ("Other", Dictionary, Geo, AI, Introspection, Internal, Time Series, …) is refused until it is named here.
 */
const CALLABLE_CATEGORIES = new Set([
  'Aggregate Functions', 'Arithmetic', 'Arrays', 'Bit', 'Comparison', 'Conditional', 'Dates and Times', 'Distance',
  'Encoding', 'Financial', 'Hash', 'IP Address', 'JSON', 'Logical', 'Map', 'Mathematical', 'Null', 'Random Number',
  'Rounding', 'String', 'String Replacement', 'String Search', 'String Splitting', 'Time Window', 'Tuple',
  'Type Conversion', 'URL', 'UUID',
]);

/** Functions of the engine's "Other" and "Internal" categories that compute on their arguments or describe a type. */
const CALLABLE_OTHERS = new Set(
  [
    'bar', 'byteSize', 'caseWithExpression', 'caseWithoutExpression', 'countDigits', 'currentDatabase',
    'defaultValueOfArgumentType', 'defaultValueOfTypeName', 'dumpColumnStructure', 'errorCodeToName',
    'finalizeAggregation', 'formatReadableDecimalSize', 'formatReadableQuantity', 'formatReadableSize',
    'formatReadableTimeDelta', 'getSetting', 'getSettingOrDefault', 'getSizeOfEnumType', 'getSubcolumn', 'identity',
    'ignore', 'indexHint', 'initializeAggregation', 'isConstant', 'isDecimalOverflow', 'lowCardinalityIndices',
    'lowCardinalityKeys', 'materialize', 'minSampleSizeContinuous', 'minSampleSizeConversion', 'neighbor',
    'parseReadableSize', 'parseReadableSizeOrNull', 'parseReadableSizeOrZero', 'parseTimeDelta', 'rowNumberInAllBlocks',
    'rowNumberInBlock', 'runningAccumulate', 'runningConcurrency', 'runningDifference',
    'runningDifferenceStartingWithFirstValue', 'throwIf', 'toColumnTypeName', 'toTypeName', 'transform',
    'variantElement', 'variantType', 'version', 'visibleWidth',
  ].map((f) => f.toLowerCase()),
);

/**
 * Table functions a query may read from: generated rows, nothing outside. Not `values`: its structure string is parsed
 * as column definitions, and `b String ALIAS file('…')` ran any expression there, out of sight of the token rules (a
 * seventh probe).
 */
const CALLABLE_TABLE_FUNCTIONS = ['numbers', 'generate_series', 'generateSeries'];

/**
 * Words the engine's canonical text puts before "(" that are not calls. Keywords come out in upper case; a function
 * a user wrote in upper case (`COUNT(`) is checked like any other unless it is one of these, all harmless as calls.
 */
const PAREN_KEYWORDS = new Set([
  'IN', 'FROM', 'JOIN', 'AS', 'OVER', 'USING', 'EXISTS', 'ANY', 'ALL', 'AND', 'OR', 'NOT', 'WHERE', 'HAVING', 'ON',
  'THEN', 'ELSE', 'WHEN', 'BY', 'PREWHERE', 'LIKE', 'ILIKE', 'DISTINCT', 'TABLE', 'INTERSECT', 'EXCEPT', 'UNION',
  'SELECT', 'WITH', 'QUALIFY', 'APPLY', 'REPLACE', 'COLUMNS', 'SETS', 'INTERPOLATE', 'FILTER', 'GROUP', 'IS', 'LIMIT',
  'OFFSET',
]);

const AGGREGATE_COMBINATORS = ['SimpleState', 'MergeState', 'OrDefault', 'Resample', 'ForEach', 'Distinct', 'ArgMin', 'ArgMax', 'OrNull', 'State', 'Merge', 'Array', 'Map', 'If'];

/** What a user query may call, read from the engine it runs on (functionsCallable). */
export interface CallableFunctions {
  /** Lower case: functions and table functions a query may call, and the engine's type names (`Array(…)` in a cast). */
  names: ReadonlySet<string>;
  /** Lower case: the aggregate functions among them, which take combinator suffixes (`sumIf`, `uniqExactState`). */
  aggregates: ReadonlySet<string>;
  /** Lower case: every function of the engine, callable or not (a name handed to arrayX is a function if it is one). */
  all: ReadonlySet<string>;
  /** The engine's time-zone names (system.time_zones), to hold literals to ALLOWED_TIME_ZONES. */
  zones?: ReadonlySet<string>;
  /** Lower case: the functions that read an argument as a time zone or a type (see ZONE_OR_TYPE_CATEGORIES). */
  zoneOrType?: ReadonlySet<string>;
  /** Lower case: the aliases of ZONE_OR_TYPE_FIRST (the engine's `current_timestamp` for now, …). */
  zoneOrTypeFirst?: ReadonlySet<string>;
  /** Lower case: ZONE_PER_ROW with the engine's aliases of its functions. */
  zonePerRow?: ReadonlyMap<string, number>;
}

export function isCallable(name: string, callable: CallableFunctions): boolean {
  if (callable.names.has(name.toLowerCase())) return true;
  // sumIf, quantilesIfState, uniqExactMerge: an aggregate function with combinators (case-sensitive, as the engine).
  let base = name;
  for (;;) {
    const suffix = AGGREGATE_COMBINATORS.find((c) => base.length > c.length && base.endsWith(c));
    if (suffix === undefined) return false;
    base = base.slice(0, -suffix.length);
    if (callable.aggregates.has(base.toLowerCase())) return true;
  }
}

/** The allowlist from the engine's own system.functions and system.data_type_families (rows as JSON objects). */
export function functionsCallable(
  functions: readonly { name: string; alias_to: string; is_aggregate: number; categories: string; syntax?: string }[],
  typeNames: readonly string[],
): CallableFunctions {
  const refused = (name: string) => OUTSIDE_FUNCTIONS.has(name) || UNINTERRUPTIBLE_FUNCTIONS.has(name) || HARMFUL_FUNCTIONS.has(name);
  const byName = new Map(functions.map((f) => [f.name, f]));
  const names = new Set<string>();
  const aggregates = new Set<string>();
  const zoneOrType = new Set<string>();
  const zoneOrTypeFirst = new Set<string>();
  const zonePerRow = new Map(ZONE_PER_ROW);
  for (const f of functions) {
    // An alias (`median` → quantile) is what it stands for.
    const target = (f.alias_to && byName.get(f.alias_to)) || f;
    const lower = f.name.toLowerCase();
    if (ZONE_OR_TYPE_FIRST.has(target.name.toLowerCase())) zoneOrTypeFirst.add(lower);
    const perRow = ZONE_PER_ROW.get(target.name.toLowerCase());
    if (perRow !== undefined) zonePerRow.set(lower, perRow);
    const categories = target.categories.split(',').map((c) => c.trim());
    if (categories.some((c) => ZONE_OR_TYPE_CATEGORIES.has(c)) || ZONE_OR_TYPE_SYNTAX.test(target.syntax ?? '')) zoneOrType.add(lower);
    const ok = categories.some((c) => CALLABLE_CATEGORIES.has(c)) || CALLABLE_OTHERS.has(target.name.toLowerCase());
    if (!ok || refused(lower) || refused(target.name.toLowerCase())) continue;
    names.add(lower);
    if (target.is_aggregate) aggregates.add(lower);
  }
  for (const t of CALLABLE_TABLE_FUNCTIONS) names.add(t.toLowerCase());
  for (const t of typeNames) names.add(t.toLowerCase());
  return { names, aggregates, all: new Set(functions.map((f) => f.name.toLowerCase())), zoneOrType, zoneOrTypeFirst, zonePerRow };
}

function notCallable(name: string): string {
  return `${name} is not allowed: queries here call the engine's functions that compute on values (see CALLABLE_CATEGORIES in core/sql-check.ts), and ${name} is not one of them`;
}

/**
 * Where the statement reaches outside the pipeline's tables, found on its tokens:
 * - a function of OUTSIDE_FUNCTIONS called (`file(`), applied (`APPLY file`) or passed by name to a higher-order
 *   function (`arrayMap(file, …)`, `arrayMap(file AS f, …)`: the engine's higher-order functions, arrayX and mapX, take
 *   the function first). Elsewhere such a name is a column (`count(remote)`) or an alias (`callee AS remote`): a read;
 * - REFUSED_SYSTEM_TABLES (`merge()` could reach them too, and is listed);
 * - a quoted name with a `/` or `.` in it, other than an alias being defined: the embedded engine's default database
 *   answers `EXISTS TABLE \`/etc/passwd\`` (or `core/../../etc/passwd`, `package.json`, relative to the job's
 *   directory);
 * - anything in the database `default` (`default.LICENSE`, `` `default`.`Makefile-old` ``): in the embedded engine it
 *   is an Overlay over the job's working directory and answers whether a file of that name exists there. The
 *   pipeline's tables are in their own database; bare names resolve there, or to information_schema (see
 *   embeddedEngine);
 * - a function of UNINTERRUPTIBLE_FUNCTIONS or HARMFUL_FUNCTIONS, in the same positions;
 * - a SETTINGS clause anywhere (the engine applies one on a subquery without readonly=1's check).
 */
function outsideReach(formatted: string, fileBackedDefault: boolean, callable: CallableFunctions | undefined): string | undefined {
  const tokens = tokensOf(formatted);
  const at = (i: number) => tokens[i]?.text ?? '';
  const values = namesOfValues(tokens);
  for (let i = 0; i < tokens.length; i++) {
    const token = tokens[i]!;
    if (token.content !== undefined) {
      const problem = literalContentProblem(token.content, callable?.zones);
      if (problem !== undefined) return problem;
      continue;
    }
    const word = token.text.toLowerCase();
    if (at(i - 1) === '.' && at(i - 2).toLowerCase() === 'system' && REFUSED_SYSTEM_TABLES.has(word)) {
      return `system.${token.text} is not allowed: ${REFUSED_SYSTEM_TABLES.get(word)}`;
    }
    if (fileBackedDefault && word === 'default' && at(i + 1) === '.' && at(i - 1) !== '.') {
      return "the database default is not allowed: in the embedded engine it answers about files in the job's directory; the pipeline's tables are in its own database";
    }
    if (token.quoted) {
      // A type in a subcolumn's name (`` d.`DateTime('…')` ``) reaches the zone loader as a literal's would.
      const problem = literalContentProblem(token.text, callable?.zones);
      if (problem !== undefined) return problem;
      // `package.json`, `core/../../etc/passwd`: names of files, which the default database answers about.
      if (/[/.]/.test(token.text) && at(i - 1).toUpperCase() !== 'AS') return `${quote(token.text)} is not allowed: a name with a path or a file extension in it is not a table of the pipeline`;
      // A function whose name is a keyword stays quoted (`values`(…)): still a call.
      if (callable && at(i + 1) === '(' && at(i - 1) !== '.' && !isCallable(token.text, callable)) return notCallable(token.text);
      continue;
    }
    // SETTINGS on a subquery, a CTE or view() is applied without readonly=1's check (the engine's own bug): it turned
    // readonly off, enabled eval() and wrote files. At the top level readonly=1 refuses it; here it is refused anywhere.
    if (token.text === 'SETTINGS' && at(i - 1) !== '.' && at(i - 1).toUpperCase() !== 'AS') return 'SETTINGS is not allowed: the limits and the read-only mode of these sessions are fixed';
    if (PATTERN_OPERATORS.has(token.text)) {
      const pattern = operatorPatternProblem(tokens, i);
      if (pattern !== undefined) return pattern;
    }
    const called = at(i + 1) === '(';
    // After `.` or `AS` a word is a column, a table or an alias — unless it is called: `INTERPOLATE (s AS file(…))`
    // called file() out of sight of every rule (a seventh probe).
    if (!/^[A-Za-z_]/.test(token.text) || ((at(i - 1) === '.' || at(i - 1).toUpperCase() === 'AS') && !called)) continue;
    const lambda = at(i + 1) === '-' && at(i + 2) === '>';
    const applied = !lambda && (at(i - 1).toUpperCase() === 'APPLY' || (at(i - 1) === '(' && at(i - 2).toUpperCase() === 'APPLY'));
    let open = i - 1;
    while (at(open) === '(' && at(open - 1) === '(') open--;
    const passed = at(open) === '(' && /^(?:array|map)/i.test(at(open - 1));
    const outside = OUTSIDE_FUNCTIONS.has(word);
    const harmful = HARMFUL_FUNCTIONS.get(word);
    if ((outside || harmful !== undefined || UNINTERRUPTIBLE_FUNCTIONS.has(word)) && (called || applied || passed)) {
      if (outside) return `${token.text} is not allowed: it reads files, reaches other hosts or runs programs; queries here read the pipeline's tables`;
      if (harmful !== undefined) return `${token.text} is not allowed: ${harmful}`;
      return `${token.text} is not allowed: on long inputs it runs for minutes and neither the time limit nor a cancel stops it`;
    }
    if (called) {
      const problem = patternProblem(tokens, i) ?? (PAREN_KEYWORDS.has(token.text) ? undefined : zoneOrTypeProblem(tokens, i, callable, values));
      if (problem !== undefined) return problem;
    }
    if (!callable) continue;
    // Everything else that is called must be callable: a call (not a keyword before a parenthesis), an APPLY, or a
    // function handed by name to an arrayX/mapX function (the first argument, not a lambda): `arrayMap(lower, …)`,
    // `arrayMap(lower AS f, …)`, `arrayMap((lower), …)`. Which arrayX take a function is the engine's business
    // (arrayCompact and arrayDifference do too), so any name of a function there counts; a column (`arr`) does not.
    const isCall = called && !PAREN_KEYWORDS.has(token.text);
    const handed =
      passed &&
      callable.all.has(word) &&
      (open === i - 1 ? at(i + 1) === ',' || at(i + 1).toUpperCase() === 'AS' : at(i + 1) === ')');
    if ((isCall || applied || handed) && !isCallable(token.text, callable)) return notCallable(token.text);
  }
  return undefined;
}

/**
 * Pattern matching costs the length of the text times the length of the pattern inside one row, where neither the
 * time limit nor a cancel reaches: `ILIKE` with a 20,000-character pattern 31 s, `match` 24 s, plain `LIKE` with `_`
 * 9 s, `position` with a 60,000-character needle 11 s (a seventh probe). So a pattern or needle must be a string
 * literal of at most MAX_PATTERN_CHARS: the arguments (by position, from 1) of these functions, and the operand after
 * LIKE / ILIKE (`x NOT LIKE 'a%'`: the operators' canonical form).
 */
const PATTERN_ARGUMENTS = new Map<string, number>([
  ...['like', 'notlike', 'ilike', 'notilike', 'match', 'regexp_matches', 'extract', 'regexpextract', 'regexp_extract', 'regexp_substr', 'extractall', 'extractallgroups', 'extractallgroupshorizontal', 'extractallgroupsvertical', 'extractgroups', 'replaceregexpone', 'replaceregexpall', 'regexp_replace', 'countmatches', 'countmatchescaseinsensitive', 'regexpinstr', 'regexp_instr', 'mapcontainskeylike', 'mapextractkeylike', 'mapcontainsvaluelike', 'mapextractvaluelike', 'position', 'positionutf8', 'positioncaseinsensitive', 'positioncaseinsensitiveutf8', 'strpos', 'instr'].map((f) => [f, 2] as [string, number]),
  ['regexpposition', 2],
  ['splitbyregexp', 1],
]);
const MAX_PATTERN_CHARS = 256;
const PATTERN_OPERATORS = new Set(['LIKE', 'ILIKE']);

function patternProblem(tokens: readonly SqlToken[], call: number): string | undefined {
  const name = tokens[call]!.text;
  const position = PATTERN_ARGUMENTS.get(name.toLowerCase());
  if (position === undefined) return undefined;
  const arg = argumentTokens(tokens, call + 1, position);
  // An argument left out (a function overload without it) is the engine's to refuse.
  if (arg === undefined) return undefined;
  return literalProblem(arg, `the pattern of ${name}`);
}

/** The tokens of argument `n` (from 1) of the call whose "(" is at `open`; undefined when there is no such argument. */
function argumentTokens(tokens: readonly SqlToken[], open: number, n: number): SqlToken[] | undefined {
  const arg = callArguments(tokens, open)[n - 1];
  return arg !== undefined && arg.length > 0 ? arg : undefined;
}

/** The arguments of the call whose "(" is at `open`, in one pass, up to the first that is empty or not closed. */
function argumentList(tokens: readonly SqlToken[], open: number): SqlToken[][] {
  const all = callArguments(tokens, open);
  const empty = all.findIndex((a) => a.length === 0);
  return empty < 0 ? all : all.slice(0, empty);
}

/** Each argument (its tokens) of the call whose "(" is at `open` that a `,` or the closing `)` ends. */
function callArguments(tokens: readonly SqlToken[], open: number): SqlToken[][] {
  const args: SqlToken[][] = [];
  let depth = 0;
  let arg: SqlToken[] = [];
  for (let i = open + 1; i < tokens.length; i++) {
    const t = tokens[i]!.text;
    if (t === '(' || t === '[') depth++;
    if (depth === 0 && (t === ')' || t === ',')) {
      args.push(arg);
      if (t === ')') return args;
      arg = [];
      continue;
    }
    if (t === ')' || t === ']') depth--;
    arg.push(tokens[i]!);
  }
  return args;
}

function literalProblem(arg: readonly SqlToken[], what: string): string | undefined {
  // `LIKE ('a%')` keeps the user's parentheses.
  let first = 0;
  let last = arg.length - 1;
  while (first < last && arg[first]!.text === '(' && arg[last]!.text === ')') [first, last] = [first + 1, last - 1];
  const literal = first === last ? arg[first]!.content?.length : undefined;
  if (literal === undefined) return `${what} is not allowed here unless it is a string literal: matching costs the text's length times the pattern's inside one row, which neither the time limit nor a cancel stops`;
  if (literal > MAX_PATTERN_CHARS) return `${what} is not allowed here: ${literal} characters, more than ${MAX_PATTERN_CHARS}; matching costs the text's length times the pattern's inside one row, which neither the time limit nor a cancel stops`;
  return undefined;
}

/** The operand after `LIKE` / `ILIKE` (also `NOT LIKE`), up to the end of its expression at this depth. */
function operatorPatternProblem(tokens: readonly SqlToken[], at: number): string | undefined {
  const operand: SqlToken[] = [];
  let depth = 0;
  for (let i = at + 1; i < tokens.length; i++) {
    const t = tokens[i]!.text;
    if (t === '(' || t === '[') depth++;
    if (depth === 0 && (t === ')' || t === ',' || /^(?:AND|OR|THEN|ELSE|END|WHEN|AS|FROM|WHERE|GROUP|ORDER|LIMIT|HAVING|SETTINGS|FORMAT|UNION|IS)$/.test(t))) break;
    if (t === ')' || t === ']') depth--;
    operand.push(tokens[i]!);
  }
  if (operand.length === 0) return undefined;
  return literalProblem(operand, `the pattern of ${tokens[at]!.text}`);
}

export interface RefusalOptions {
  /** The database `default` answers about files (the embedded engine's Overlay): refuse names in it. */
  fileBackedDefault: boolean;
  /** What a query may call (the embedded engine's allowlist); absent: only the refused lists apply. */
  callable?: CallableFunctions | undefined;
}

/**
 * The second layer (see the header): the engine's canonical text of the statement, refused when it writes a file
 * (`INTO OUTFILE`, `sqlite()`), names a function that reads files or reaches other hosts, kills queries, stops the engine's background work (`SYSTEM`), describes a table
 * function or switches the session's database — the things readonly=1 still allows (those besides INTO OUTFILE and
 * KILL were found by test/fuzz/ops-port.test.ts).
 */
export function refusalOf(formatted: string, options: RefusalOptions = { fileBackedDefault: true }): string | undefined {
  const statement = formatted.trimStart();
  if (/^KILL\b/i.test(statement)) return 'KILL is not allowed: queries of the pipeline are not yours to cancel';
  // readonly=1 refuses most SYSTEM statements but runs the global START/STOP ones (SYSTEM STOP MERGES, … VIEWS,
  // … MOVES, … TTL MERGES), which would stop the sink's tables from merging. None of them is a read.
  if (/^SYSTEM\b/i.test(statement)) return 'SYSTEM statements are not allowed: they change the engine, not read from it';
  // USE is allowed by readonly=1 but sticks to the pooled engine session, so it would change the database of every
  // later query on that session (other callers' included) until the job restarts.
  // SHOW PROCESSLIST is system.processes by another name (other callers' query text).
  if (/^SHOW PROCESSLIST\b/i.test(statement)) return 'SHOW PROCESSLIST is not allowed: it shows the text of every running query, other callers\' literals included';
  if (/^USE\b/i.test(statement)) return 'USE is not allowed: the session is shared with later queries; name the database in the query (db.table)';
  // readonly=1 refuses file(), url(), s3(), … in a SELECT, but not as the table of a DESCRIBE, which reads the file or
  // fetches the address it names to infer the columns (a file's header line comes back as column names).
  if (/^DESCRIBE TABLE [A-Za-z_][A-Za-z0-9_]*\s*\(/i.test(statement)) {
    return 'DESCRIBE of a table function is not allowed: it reads the file or address it names, which read-only queries do not';
  }
  // A function that reads files, reaches other hosts or runs programs, called, applied or passed by name (see the
  // header); sqlite() also creates its file before readonly=1 refuses it. String literals do not count.
  const outside = outsideReach(statement, options.fileBackedDefault, options.callable);
  if (outside !== undefined) return outside;
  if (/^INTO OUTFILE\b/im.test(formatted)) return 'INTO OUTFILE is not allowed: the result comes back to the caller, no file is written';
  return undefined;
}

/** The statements a read-only endpoint answers, by the root node of the engine's AST (`SHOW USERS` prints `SHOW …`). */
const READ_STATEMENT = /^(?:SelectWithUnionQuery|SelectIntersectExceptQuery|Explain|DescribeQuery|Show[A-Za-z]*|SHOW|Exists[A-Za-z]*)$/;

/**
 * The third layer (see the header), on the engine's `EXPLAIN AST` of the statement: refused unless its root is a
 * read. An answer that does not read as an AST is refused too (fail closed).
 */
export function astRefusal(ast: string): string | undefined {
  const root = /^([A-Za-z]+)/.exec(ast.trimStart())?.[1];
  if (root === undefined) return 'the statement could not be checked; only reads are answered here';
  if (!READ_STATEMENT.test(root)) {
    return `${root.replace(/Query$/, '')} is not allowed: this endpoint answers reads only (SELECT, SHOW, DESCRIBE, EXPLAIN, EXISTS)`;
  }
  return undefined;
}

/**
 * The statement without its `FORMAT` clause, for EXPLAIN AST: the clause would set the explain's own output format
 * (a binary one could hide the function names). The engine's canonical text puts it on a line of its own.
 */
export function withoutFormatClause(formatted: string): string {
  return formatted.replace(/^FORMAT [A-Za-z0-9_]+$/m, '');
}
