// Library commands: create, rename, use, delete.
import { existsSync } from 'node:fs';
import { z } from 'zod';
import { SdError } from '../../errors.js';
import { check, defineCommand } from '../define.js';
import { Name } from '../names.js';
import { keepKeyInfoName, readKeyInfo } from '../../store/cipher.js';
import type { LibraryName } from '../../library/manager.js';

function libraryExists(clash: LibraryName): SdError {
  const alias = clash.alias ? ` (a local alias of the shared name "${clash.sharedName}")` : '';
  return new SdError(
    'E_LIBRARY_EXISTS',
    `a library here is already called "${clash.name}"${alias}; library names are unique per device`,
  );
}

export const createLibrary = defineCommand({
  name: 'library.create',
  scope: 'dataDir',
  summary: 'create a library (optionally encrypted at rest)',
  input: z.object({ name: Name, encrypt: z.boolean().default(false), passphrase: z.string().optional() }),
  preview: ({ core }, { name, encrypt, passphrase }) => {
    const clash = core.libraries.findByName(name);
    if (clash) throw libraryExists(clash);
    if (encrypt && !passphrase)
      throw new SdError(
        'E_PASSPHRASE_REQUIRED',
        'an encrypted library needs a passphrase (SD_LIBRARY_PASSPHRASE or the prompt)',
      );
    if (encrypt && passphrase!.length < 8)
      throw new SdError('E_WEAK_PASSPHRASE', 'a passphrase needs at least 8 characters');
    return {
      summary: `create ${encrypt ? 'encrypted ' : ''}library "${name}"`,
      changes: [
        {
          op: 'create',
          target: `library "${name}"`,
          detail: encrypt ? 'SQLCipher database, key from the passphrase (Argon2id)' : undefined,
        },
      ],
    };
  },
  commit: async ({ core }, plan) => {
    const lib = await core.libraries.create(plan.input.name, plan.input.encrypt ? plan.input.passphrase : undefined);
    return { id: lib.id, name: lib.name };
  },
  verify: ({ core }, plan, result) => {
    const lib = core.libraries.list().find((l) => l.id === result.id);
    return [
      check(!!lib && existsSync(lib.path), 'library database exists'),
      check(lib?.name === plan.input.name, 'library has the requested name'),
    ];
  },
});

export const renameLibrary = defineCommand({
  name: 'library.rename',
  summary: 'rename a library',
  input: z.object({ name: Name }),
  preview: ({ core, lib }, { name }) => {
    const clash = core.libraries.findByName(name);
    if (clash && clash.id !== lib.id) throw libraryExists(clash);
    return {
      summary: `rename library "${core.libraries.nameOf(lib.id)}" to "${name}"`,
      changes: [{ op: 'update', target: `library ${lib.id}`, detail: `name "${lib.name}" -> "${name}"` }],
    };
  },
  commit: ({ lib }, plan) => {
    const seq = lib.write(() => lib.append('library.renamed', { name: plan.input.name })).seq;
    // An encrypted library is listed by the name in its key info while locked (after a restart).
    keepKeyInfoName(lib.path, lib.name);
    return seq;
  },
  verify: ({ core, lib }, plan) => [
    check(lib.name === plan.input.name, 'library has the new name'),
    check(core.libraries.nameOf(lib.id) === plan.input.name, 'this device calls it by the new name'),
    check((readKeyInfo(lib.path)?.name ?? lib.name) === plan.input.name, 'the name shown while locked is the new one'),
  ],
});

export const useLibrary = defineCommand({
  name: 'library.use',
  scope: 'dataDir',
  summary: 'make a library the current one',
  input: z.object({ ref: z.string().min(1) }),
  preview: ({ core }, { ref }) => {
    const target = core.libraries.resolve(ref);
    const name = core.libraries.nameOf(target.id);
    return {
      summary: `make "${name}" the current library`,
      changes: [{ op: 'update', target: 'current library', detail: `-> ${name} (${target.id})` }],
      data: { id: target.id },
    };
  },
  commit: ({ core }, plan) => {
    core.libraries.setCurrent(plan.data!.id);
    return { id: plan.data!.id };
  },
  verify: ({ core }, plan) => [check(core.libraries.currentId === plan.data!.id, 'current library changed')],
});

export const deleteLibrary = defineCommand({
  name: 'library.delete',
  scope: 'dataDir',
  summary: 'delete a library and its index (never the indexed files)',
  input: z.object({ ref: z.string().min(1) }),
  preview: ({ core }, { ref }) => {
    const target = core.libraries.resolve(ref);
    if (core.libraries.list().length === 1)
      throw new SdError('E_LAST_LIBRARY', 'this is the only library; create another one before deleting it');
    const events = target.log.count();
    const name = core.libraries.nameOf(target.id);
    return {
      summary: `delete library "${name}" (${events} events)`,
      changes: [
        {
          op: 'delete',
          target: `library "${name}" (${target.id})`,
          detail: `${events} events and every projection; files on disk are not touched`,
        },
      ],
      confirm: `Delete library "${name}" and its ${events} events?`,
      data: { id: target.id, path: target.path },
    };
  },
  commit: async ({ core }, plan) => {
    await core.libraries.remove(plan.data!.id);
    return { id: plan.data!.id };
  },
  verify: ({ core }, plan) => [
    check(!existsSync(plan.data!.path), 'library database removed'),
    check(!core.libraries.list().some((l) => l.id === plan.data!.id), 'library no longer listed'),
  ],
});

export const unlockLibrary = defineCommand({
  name: 'library.unlock',
  scope: 'dataDir',
  summary: 'open an encrypted library with its passphrase',
  input: z.object({ ref: z.string().min(1), passphrase: z.string().min(1) }),
  preview: ({ core }, { ref }) => {
    let id: string | undefined;
    try {
      id = core.libraries.resolveId(ref);
    } catch (e) {
      if (!(e instanceof SdError) || e.code !== 'E_LIBRARY_NOT_FOUND') throw e;
    }
    if (id === undefined || !core.libraries.locked.has(id))
      throw new SdError(
        'E_NOT_LOCKED',
        `no locked library "${ref}" (it may be unlocked already: see \`sd library list\`)`,
      );
    const name = core.libraries.nameOf(id);
    return {
      summary: `unlock library "${name}"`,
      changes: [{ op: 'open', target: `library "${name}"` }],
      data: { id },
    };
  },
  commit: async ({ core }, plan) => {
    // Every library passphrase has at least 8 characters, so a shorter one is simply wrong.
    if (plan.input.passphrase.length < 8)
      throw new SdError('E_BAD_PASSPHRASE', `the passphrase does not unlock "${core.libraries.nameOf(plan.data!.id)}"`);
    return { id: (await core.libraries.unlock(plan.data!.id, plan.input.passphrase)).id };
  },
  verify: ({ core }, plan) => [
    check(
      core.libraries.list().some((l) => l.id === plan.data!.id),
      'library is open',
    ),
  ],
});
