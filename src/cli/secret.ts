// Passphrases: from SD_LIBRARY_PASSPHRASE, or typed on a TTY without echo; never a flag
// (a flag would land in shell history and `ps`).
import { SdError } from '../errors.js';
import { escapeControls } from './terminal.js';

export async function readPassphrase(prompt: string, confirm = false): Promise<string> {
  const env = process.env.SD_LIBRARY_PASSPHRASE;
  if (env) return env;
  if (!process.stdin.isTTY)
    throw new SdError('E_PASSPHRASE_REQUIRED', 'no passphrase: set SD_LIBRARY_PASSPHRASE or run this on a terminal');
  const first = await ask(prompt);
  if (confirm && (await ask('Repeat the passphrase: ')) !== first)
    throw new SdError('E_PASSPHRASE_MISMATCH', 'the two passphrases differ; nothing was changed');
  return first;
}

function ask(prompt: string): Promise<string> {
  return new Promise((resolve, reject) => {
    process.stderr.write(escapeControls(prompt)); // the prompt may quote a library name
    const stdin = process.stdin;
    stdin.setRawMode(true);
    stdin.resume();
    let s = '';
    const onData = (b: Buffer): void => {
      for (const ch of b.toString('utf8')) {
        if (ch === '\r' || ch === '\n') return done();
        if (ch === '\u0003') return done(new SdError('E_CANCELLED', 'cancelled'));
        if (ch === '\u007f') s = s.slice(0, -1);
        else s += ch;
      }
    };
    const done = (err?: Error): void => {
      stdin.off('data', onData);
      stdin.setRawMode(false);
      stdin.pause();
      process.stderr.write('\n');
      if (err) reject(err);
      else resolve(s);
    };
    stdin.on('data', onData);
  });
}
