import dns from 'node:dns';
import { lookup } from 'node:dns/promises';
import http from 'node:http';
import net from 'node:net';
import { request } from 'undici';
import { describe, expect, it } from 'vitest';
import { takeViolations } from './network-guard.js';

function connectOutcome(host: string, port: number): Promise<string> {
  return new Promise((resolve) => {
    const socket = net.connect({ host, port });
    socket.once('connect', () => {
      socket.destroy();
      resolve('connected');
    });
    socket.once('error', (err) => resolve(err.message));
  });
}

describe('network guard', () => {
  it('sets the environment that stops SDKs probing metadata servers', () => {
    expect(process.env.METADATA_SERVER_DETECTION).toBe('none');
    expect(process.env.AWS_EC2_METADATA_DISABLED).toBe('true');
    expect(process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED).toBe('true');
  });

  it('refuses a TCP connection to the cloud metadata address 169.254.169.254', async () => {
    const outcome = await connectOutcome('169.254.169.254', 80);
    expect(outcome).toBe('network guard: refused a TCP connection to 169.254.169.254:80 (tests may only reach loopback)');
    expect(takeViolations()).toEqual([outcome]);
  });

  it('refuses HTTP clients (node:http and undici) before any packet is sent', async () => {
    const viaHttp = await new Promise<string>((resolve) => {
      http.get('http://169.254.169.254/computeMetadata/v1/', () => resolve('answered')).once('error', (e) => resolve(e.message));
    });
    expect(viaHttp).toMatch(/network guard: refused a TCP connection to 169\.254\.169\.254:80/);
    await expect(request('http://metadata.google.internal/computeMetadata/v1/')).rejects.toThrow(/network guard/);
    expect(takeViolations()).toHaveLength(2);
  });

  it('refuses DNS lookups of anything but localhost', async () => {
    await expect(lookup('login.microsoftonline.com')).rejects.toThrow(/network guard: refused a DNS lookup of login\.microsoftonline\.com/);
    const viaCallback = await new Promise<string>((resolve) => dns.lookup('sts.amazonaws.com', (err) => resolve(err?.message ?? 'resolved')));
    expect(viaCallback).toMatch(/network guard: refused a DNS lookup of sts\.amazonaws\.com/);
    expect((await lookup('localhost')).address).toMatch(/^(127\.0\.0\.1|::1)$/);
    expect(takeViolations()).toHaveLength(2);
  });

  it('lets loopback connections through', async () => {
    const server = net.createServer((s) => s.end());
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const { port } = server.address() as net.AddressInfo;
    expect(await connectOutcome('127.0.0.1', port)).toBe('connected');
    expect(await connectOutcome('localhost', port)).toMatch(/connected|ECONNREFUSED/); // localhost may resolve to ::1
    await new Promise((r) => server.close(r));
    expect(takeViolations()).toEqual([]);
  });
});
