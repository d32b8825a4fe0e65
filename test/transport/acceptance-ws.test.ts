// The PeerLink acceptance suite over a WebSocket.
import { peerLinkAcceptance } from '../support/peer-link-suite.js';
import { wsPair } from './helpers.js';

peerLinkAcceptance('WebSocket', wsPair);
