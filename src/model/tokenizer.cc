// Placeholder translation unit; the tokenizer lands here.
