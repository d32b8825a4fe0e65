// The operational tables of file transfers (store/schema.ts creates them, migration 2): the grants
// `sd send` gave to a peer for exactly the paths it offered, and the drops this device's inbox holds.
export const TRANSFER_SCHEMA = `
CREATE TABLE IF NOT EXISTS xfer_grants (id TEXT PRIMARY KEY, peer TEXT NOT NULL, paths TEXT NOT NULL,
  created_at INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS inbox_drops (id TEXT PRIMARY KEY, peer TEXT NOT NULL, items TEXT NOT NULL,
  files INTEGER NOT NULL, bytes INTEGER NOT NULL, state TEXT NOT NULL, job TEXT, created_at INTEGER NOT NULL);
`;
