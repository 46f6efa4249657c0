//! What cached cards are looked up by.

use sharecard_render::card::CardRequest;

/// What cached cards are looked up by: the first 16 bytes of a SHA-256 of
/// the card's canonical form. Hashing and comparing a `CardRequest` meant
/// reading its texts, each in an allocation of its own, on every hit; a
/// digest sits inline in the remembered target and in moka's entry: a
/// sixth less of the server's own CPU a hit over 1,000 cycled cards
/// (`perf` during `bench/loadtest.sh`'s hits over 1,000 cards). Two cards
/// share a key only if SHA-256 collides in 128 bits, which no one can
/// arrange.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct CardKey([u8; 16]);

/// A card request and its [`CardKey`], computed once, together.
#[derive(Debug, Clone)]
pub struct KeyedCard {
    pub(super) req: CardRequest,
    pub(super) key: CardKey,
}

impl KeyedCard {
    pub fn new(req: CardRequest) -> KeyedCard {
        use sha2::Digest;
        // `canonical_query` is one-to-one with a card of a given template
        // (it parses back to the same card), and template names never
        // contain NUL.
        let mut h = sha2::Sha256::new();
        h.update(req.template.as_str().as_bytes());
        h.update([0]);
        h.update(req.canonical_query().as_bytes());
        let mut key = [0; 16];
        key.copy_from_slice(&h.finalize()[..16]);
        KeyedCard {
            req,
            key: CardKey(key),
        }
    }

    pub fn req(&self) -> &CardRequest {
        &self.req
    }

    pub fn key(&self) -> CardKey {
        self.key
    }
}
