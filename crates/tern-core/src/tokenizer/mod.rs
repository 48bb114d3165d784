//! SentencePiece unigram tokenizer (being written).
