// The checkout's root folder, for what lives beside the code (.data/, .cache/, README.md, schemas/). One definition:
// the product code (the backfill lock), the app and the local infrastructure scripts all find it here.
import { fileURLToPath } from 'node:url';

export const REPO_ROOT = fileURLToPath(new URL('../', import.meta.url));
