import fs from 'node:fs/promises';
import type { TLSConfig } from '@temporalio/client';
import type { Config } from '../config.js';

export interface TemporalConnectionOptions {
  address: string;
  tls: TLSConfig | undefined;
  apiKey: string | undefined;
}

/** Options shared by the client's Connection and the worker's NativeConnection. */
export async function temporalConnectionOptions(
  temporal: Config['temporal'],
  address: string,
): Promise<TemporalConnectionOptions> {
  if (!temporal.tls) return { address, tls: undefined, apiKey: temporal.apiKey };
  const tls: TLSConfig = {};
  if (temporal.tlsServerName) tls.serverNameOverride = temporal.tlsServerName;
  if (temporal.tlsCaPath) tls.serverRootCACertificate = await readFileNamed('TEMPORAL_TLS_CA', temporal.tlsCaPath);
  if (temporal.tlsCertPath && temporal.tlsKeyPath) {
    tls.clientCertPair = {
      crt: await readFileNamed('TEMPORAL_TLS_CERT', temporal.tlsCertPath),
      key: await readFileNamed('TEMPORAL_TLS_KEY', temporal.tlsKeyPath),
    };
  }
  return { address, tls, apiKey: temporal.apiKey };
}

async function readFileNamed(variable: string, file: string): Promise<Buffer> {
  try {
    return await fs.readFile(file);
  } catch (error) {
    throw new Error(`${variable}: cannot read ${file}: ${(error as Error).message}`, { cause: error });
  }
}
