// The Node.js cdrflow needs (package.json "engines", which npm only warns about). Plain JavaScript, read by
// bin/cdrflow.mjs before anything else: on an older Node the first sign was otherwise a syntax or API error from
// somewhere deep in a dependency.

export const MIN_NODE_MAJOR = 20;

/** What to say when `version` (process.version, e.g. "v18.19.0") is older than cdrflow needs; null when it will do. */
export function nodeVersionProblem(version) {
  const major = Number(/^v?(\d+)\./.exec(version)?.[1]);
  if (Number.isInteger(major) && major >= MIN_NODE_MAJOR) return null;
  return `cdrflow needs Node.js ${MIN_NODE_MAJOR} or later; this is Node.js ${version} (${process.execPath})`;
}
