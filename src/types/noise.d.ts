// Types for the CommonJS packages of the Noise handshake (they ship none).

declare module 'noise-handshake' {
  export interface KeyPair {
    publicKey: Buffer;
    secretKey: Buffer;
  }
  export default class NoiseState {
    constructor(
      pattern: 'XX' | 'IK' | 'XK' | 'NN',
      initiator: boolean,
      staticKeypair?: KeyPair,
      opts?: { curve?: unknown },
    );
    initialise(prologue: Uint8Array, remoteStatic?: Uint8Array): void;
    send(payload?: Uint8Array): Buffer;
    recv(buf: Uint8Array): Buffer;
    readonly complete: boolean;
    /** The remote static public key (set once the handshake revealed it). */
    readonly rs: Buffer | null;
    /** Send key (initiator: k1 of the split). */
    readonly tx: Buffer | null;
    /** Receive key. */
    readonly rx: Buffer | null;
    readonly hash: Buffer | null;
  }
}

declare module 'noise-curve-ed' {
  import type { KeyPair } from 'noise-handshake';
  const curve: {
    generateKeyPair(seedOrSecret?: Uint8Array): KeyPair;
    PKLEN: number;
  };
  export default curve;
}

declare module 'sodium-universal' {
  const sodium: {
    crypto_aead_chacha20poly1305_ietf_ABYTES: number;
    crypto_aead_chacha20poly1305_ietf_encrypt(
      out: Uint8Array,
      message: Uint8Array,
      ad: Uint8Array | null,
      nsec: null,
      nonce: Uint8Array,
      key: Uint8Array,
    ): number;
    /** Throws when the tag does not authenticate. */
    crypto_aead_chacha20poly1305_ietf_decrypt(
      out: Uint8Array,
      nsec: null,
      ciphertext: Uint8Array,
      ad: Uint8Array | null,
      nonce: Uint8Array,
      key: Uint8Array,
    ): number;
    sodium_memzero(buf: Uint8Array): void;
    crypto_box_easy(out: Uint8Array, message: Uint8Array, nonce: Uint8Array, pk: Uint8Array, sk: Uint8Array): void;
    /** False when the box does not authenticate. */
    crypto_box_open_easy(out: Uint8Array, box: Uint8Array, nonce: Uint8Array, pk: Uint8Array, sk: Uint8Array): boolean;
    /** Throws on a key that is not a point of the curve. */
    crypto_sign_ed25519_pk_to_curve25519(out: Uint8Array, edPk: Uint8Array): void;
    crypto_sign_ed25519_sk_to_curve25519(out: Uint8Array, edSk: Uint8Array): void;
    crypto_sign_BYTES: number;
    crypto_sign_SECRETKEYBYTES: number;
    crypto_sign_seed_keypair(publicKey: Uint8Array, secretKey: Uint8Array, seed: Uint8Array): void;
    crypto_sign_detached(signature: Uint8Array, message: Uint8Array, secretKey: Uint8Array): void;
    crypto_sign_PUBLICKEYBYTES: number;
    /** False when the signature does not verify; throws on a signature or key of the wrong length. */
    crypto_sign_verify_detached(signature: Uint8Array, message: Uint8Array, publicKey: Uint8Array): boolean;
  };
  export default sodium;
}
