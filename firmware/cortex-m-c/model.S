/* The model file, linked into QSPI flash on a 32-byte boundary (MODEL_PATH from the build). */
    .section .model, "a"
    .balign 32
    .global tern_model
tern_model:
    .incbin MODEL_PATH
    .global tern_model_end
tern_model_end:
    .section .note.GNU-stack, "", %progbits
