import { generateKey, ROLES, type Role } from '../../wire/keys.js';
import { parseCommandLine, expectPositionals } from '../args.js';
import { EXIT, UsageError } from '../exit-codes.js';
import type { CliIo } from '../io.js';

export const KEYGEN_USAGE = `Usage: permit keygen [--name NAME] [--role ROLE] [--prefix PREFIX]...

Prints a new random API key (256 bits) and its SHA-256, and the entry to add to the service's
API_KEYS_FILE. The key goes to whoever calls the service (PERMIT_API_KEY, --api-key); the file
keeps only its SHA-256. Nothing is sent anywhere. Also: npm run keygen -- [options].

Options:
  --name NAME        the key's name, recorded on the permits it acquires (default: key-<random>)
  --role ROLE        reader, client or admin (default client)
  --prefix PREFIX    a resource-name prefix the key may use; repeat for several; "*" for every
                     resource (default "*")
  --json             print {"key", "sha256", "entry"} as JSON
  -h, --help         this help`;

/** `permit keygen`: a new key for API_KEYS_FILE. */
export async function keygenCommand(argv: string[], io: CliIo): Promise<number> {
  const { values, positionals } = parseCommandLine('keygen', argv, {
    name: { type: 'string' },
    role: { type: 'string' },
    prefix: { type: 'string', multiple: true },
    json: { type: 'boolean' },
  });
  if (values.help) {
    io.out(`${KEYGEN_USAGE}\n`);
    return EXIT.ok;
  }
  expectPositionals('keygen', positionals, []);
  const role = (values.role ?? 'client') as Role;
  if (!ROLES.includes(role)) throw new UsageError(`--role: "${String(values.role)}" is not one of ${ROLES.join(', ')}`);
  const { key, sha256 } = generateKey();
  const name = typeof values.name === 'string' ? values.name : `key-${sha256.slice(0, 8)}`;
  if (!/^[A-Za-z0-9._@-]{1,64}$/.test(name)) throw new UsageError(`--name: "${name}" must be 1-64 characters of A-Z a-z 0-9 . _ @ -`);
  const prefixes = (values.prefix as unknown as string[] | undefined) ?? ['*'];
  const entry = { name, role, prefixes, sha256 };
  if (values.json) {
    io.out(`${JSON.stringify({ key, sha256, entry })}\n`);
  } else {
    io.out(`key:    ${key}\nsha256: ${sha256}\nentry:  ${JSON.stringify(entry)}\n`);
    io.say('give the key to its user (PERMIT_API_KEY); add the entry to API_KEYS_FILE, then send the service SIGHUP');
  }
  return EXIT.ok;
}
