// The PeerLink acceptance suite over a WebRTC data channel.
import { peerLinkAcceptance } from '../support/peer-link-suite.js';
import { rtcPair } from './helpers.js';

peerLinkAcceptance('WebRTC data channel', rtcPair, { serial: true });
