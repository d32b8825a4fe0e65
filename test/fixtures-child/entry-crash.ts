// Child process for crash tests: opens Core on a data dir and runs one command with
// SD_CRASH_AT set by the parent, so it is killed (SIGKILL) at that point of the commit.
// argv: dataDir commandName inputJson
import { Core } from '../../src/core.js';

const [dataDir, name, input] = process.argv.slice(2);
if (!dataDir || !name || !input) {
  process.stderr.write('usage: entry-crash DATA_DIR COMMAND INPUT_JSON\n');
  process.exit(2);
}
process.env.SD_MDNS = 'off';
const core = await Core.open(dataDir, { services: false });
const out = await core.command(name, JSON.parse(input), { yes: true });
process.stdout.write(`${JSON.stringify({ survived: true, ok: out.verify?.ok })}\n`);
await core.close();
