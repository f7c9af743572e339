// Reading certificate and key files with errors that name the file and say why it cannot be read.
import { access, readFile } from 'node:fs/promises';
import { InfraError } from '../errors.js';

/** The file's text; InfraError CERT_IO naming the file when it is missing or unreadable. */
export async function readTextFile(path: string): Promise<string> {
  try {
    return await readFile(path, 'utf8');
  } catch (err) {
    throw new InfraError('CERT_IO', `${path} ${unreadableBecause(err)}`, { cause: err });
  }
}

/** The file's bytes; InfraError CERT_IO naming the file when it is missing or unreadable. */
export async function readFileBytes(path: string): Promise<Buffer> {
  try {
    return await readFile(path);
  } catch (err) {
    throw new InfraError('CERT_IO', `${path} ${unreadableBecause(err)}`, { cause: err });
  }
}

export async function pathExists(path: string): Promise<boolean> {
  try {
    await access(path);
    return true;
  } catch {
    return false;
  }
}

function unreadableBecause(err: unknown): string {
  const code = (err as NodeJS.ErrnoException).code;
  if (code === 'ENOENT') return 'does not exist';
  if (code === 'EACCES') return 'is not readable (permission denied)';
  if (code === 'EISDIR') return 'is a directory, not a file';
  return `cannot be read (${code ?? String(err)})`;
}
