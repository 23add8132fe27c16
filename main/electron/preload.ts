// Runs sandboxed before the page: exposes window.gatehouse = { call, onEvent } (see bridge.ts).
import { contextBridge, ipcRenderer } from 'electron';
import { createBridge } from './bridge.js';
contextBridge.exposeInMainWorld('gatehouse', createBridge(ipcRenderer));
