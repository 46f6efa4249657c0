//! Scripts beyond Latin: Greek, Cyrillic, Devanagari, Arabic, and CJK with
//! operator-supplied fonts.
