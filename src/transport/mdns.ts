// mDNS discovery (bonjour-service): advertises this device id and its peer port, and tells
// the PeerManager about other vdfs devices on the LAN. Off under SD_MDNS=off (tests, CI).
import { createRequire } from 'node:module';

export interface Discovered {
  dev: string;
  host: string;
  port: number;
}

export interface Discovery {
  stop(): Promise<void>;
}

export function mdnsEnabled(): boolean {
  return (process.env.SD_MDNS ?? 'on').toLowerCase() !== 'off';
}

export function startDiscovery(dev: string, port: number, onPeer: (p: Discovered) => void): Discovery {
  // Loaded only when discovery runs (never under SD_MDNS=off).
  const { Bonjour } = createRequire(import.meta.url)('bonjour-service') as typeof import('bonjour-service');
  const bonjour = new Bonjour();
  const service = bonjour.publish({ name: `vdfs-${dev.slice(0, 12)}`, type: 'vdfs', port, txt: { dev } });
  const browser = bonjour.find({ type: 'vdfs' }, (s) => {
    const other = String((s.txt as Record<string, unknown> | undefined)?.dev ?? '');
    if (!other || other === dev) return;
    const host = s.referer?.address ?? s.addresses?.find((a) => !a.includes(':')) ?? s.host;
    if (host && s.port) onPeer({ dev: other, host, port: s.port });
  });
  return {
    stop: () =>
      new Promise<void>((resolve) => {
        browser.stop();
        service.stop?.(() => bonjour.destroy(() => resolve()));
        setTimeout(resolve, 1000).unref();
      }),
  };
}
