// `npm run openapi`: regenerates openapi/openapi.json from the zod schemas (default limits).
import fs from 'node:fs/promises';
import { loadConfig } from '../src/config.js';
import { generateOpenApiDocument } from '../src/http/openapi.js';

export const OPENAPI_FILE = new URL('../openapi/openapi.json', import.meta.url);

const document = await generateOpenApiDocument(loadConfig({}));
await fs.writeFile(OPENAPI_FILE, `${JSON.stringify(document, null, 2)}\n`);
process.stdout.write(`wrote ${OPENAPI_FILE.pathname}\n`);
