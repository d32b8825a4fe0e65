// The PeerLink acceptance suite over a in-memory transport.
import { peerLinkAcceptance } from '../support/peer-link-suite.js';
import { memPair } from './helpers.js';

peerLinkAcceptance('in-memory transport', memPair);
