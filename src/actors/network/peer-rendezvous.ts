// The peer machine's states that run a rendezvous (see peer.ts): a call through a member, in
// either direction, and a relayed link that looks for a direct path through a member.
import { and, assign, not } from 'xstate';
import { peerSetup } from './peer-setup.js';
import type { PeerContext, RvInput, RvPurpose } from './peer-types.js';

/** What the rendezvous a state runs is given: our offer, or our answer to the device's (`offer`). */
const rvInput =
  (offerer: boolean, purpose: RvPurpose) =>
  ({ context }: { context: PeerContext }): RvInput => ({
    dev: context.dev,
    via: context.via!,
    sid: context.sid!,
    offerer,
    purpose,
    ...(offerer ? {} : { offer: context.offer! }),
  });

/** We offer, through a member; the device answers through it. */
export const calling = peerSetup.createStateConfig({
  entry: 'startCall',
  exit: 'endRv',
  invoke: { id: 'rv', src: 'rendezvous', input: rvInput(true, 'link') },
  after: { dialDeadline: { target: 'backoff', actions: 'rvTimedOut' } },
  on: {
    RV_UP: [
      { guard: 'relayedUp', target: 'linked.relayed', actions: 'adoptRv' },
      { guard: 'directUp', target: 'linked.direct', actions: 'adoptRv' },
      { actions: 'closeStray' },
    ],
    RV_FAILED: { guard: 'sameSid', target: 'backoff', actions: 'noteFailure' },
    // New STUN/TURN servers: a call gathered without them starts again with them.
    ICE_CHANGED: { target: 'calling', reenter: true },
    SIGNAL: [
      { guard: 'loseGlare', target: 'answering', actions: 'takeOffer' },
      // We win the glare, but the device may never have had our offer (it restarted since we
      // sent it): the call starts again, and the device answers the new offer.
      { guard: 'newOffer', target: 'calling', reenter: true },
      // An offer is never signalling of our own call, whatever its id says.
      { guard: and(['sameSid', not('isAnyOffer')]), actions: 'forwardSignal' },
    ],
    INBOUND: [{ guard: 'incomingWins', target: 'linked', actions: 'adopt' }, { actions: 'closeIncoming' }],
    PAUSE: 'paused',
  },
});

/** The device offered through a member; we answer through the same member. */
export const answering = peerSetup.createStateConfig({
  exit: 'endRv',
  invoke: { id: 'rv', src: 'rendezvous', input: rvInput(false, 'link') },
  after: { dialDeadline: { target: 'backoff', actions: 'rvTimedOut' } },
  on: {
    RV_UP: [
      { guard: 'relayedUp', target: 'linked.relayed', actions: ['adoptRv', assign({ outbound: false })] },
      { guard: 'directUp', target: 'linked.direct', actions: ['adoptRv', assign({ outbound: false })] },
      { actions: 'closeStray' },
    ],
    RV_FAILED: { guard: 'sameSid', target: 'backoff', actions: 'noteFailure' },
    SIGNAL: [
      { guard: 'newOffer', target: 'answering', reenter: true, actions: 'takeOffer' },
      { guard: 'sameSid', actions: 'forwardSignal' },
    ],
    INBOUND: [{ guard: 'incomingWins', target: 'linked', actions: 'adopt' }, { actions: 'closeIncoming' }],
    PAUSE: 'paused',
  },
});

/** A WebRTC link through a TURN relay; every so often the caller looks for a direct path. */
export const relayed = peerSetup.createStateConfig({
  initial: 'waiting',
  exit: 'endRv',
  on: {
    SIGNAL: [
      { guard: 'isProbeOffer', target: '.answeringProbe', reenter: true, actions: 'takeOffer' },
      { guard: 'sameSid', actions: 'forwardSignal' },
    ],
  },
  states: {
    waiting: { after: { probeEvery: { guard: 'prober', target: 'probing' } } },
    probing: {
      entry: 'startProbe',
      invoke: { id: 'rv', src: 'rendezvous', input: rvInput(true, 'probe') },
      on: {
        RV_UP: [
          {
            guard: 'directUp',
            target: '#peer.linked.direct',
            actions: ['closeReplaced', 'swapLink', 'rewatch', 'linkUp'],
          },
          { actions: 'closeStray' },
        ],
        RV_FAILED: { guard: 'sameSid', target: 'waiting', actions: 'endRv' },
      },
      after: { dialDeadline: { target: 'waiting', actions: 'endRv' } },
    },
    answeringProbe: {
      invoke: { id: 'rv', src: 'rendezvous', input: rvInput(false, 'probe') },
      on: {
        RV_UP: [
          {
            guard: 'directUp',
            target: '#peer.linked.direct',
            actions: ['closeReplaced', 'swapLink', assign({ outbound: false }), 'rewatch', 'linkUp'],
          },
          { actions: 'closeStray' },
        ],
        RV_FAILED: { guard: 'sameSid', target: 'waiting', actions: 'endRv' },
      },
      after: { dialDeadline: { target: 'waiting', actions: 'endRv' } },
    },
  },
});
