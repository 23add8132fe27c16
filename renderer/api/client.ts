/**
 * The renderer's one client of the control API, on whichever transport this
 * page runs on (Electron bridge or web admin). Only the store imports it.
 */
import { createClient, type Client } from '../../main/contract/client.js';
import { pickTransport, type StreamState } from './transport.js';

export interface Api {
  client: Client;
  onStreamState(cb: (s: StreamState) => void): () => void;
}

const transport = pickTransport();

export const client: Client = createClient(transport);

export const api: Api = { client, onStreamState: (cb) => transport.onStreamState(cb) };
