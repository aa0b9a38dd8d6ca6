# Embed a file in a C source as a byte array:
#   cmake -DIN=FILE -DOUT=FILE.c -DNAME=SYMBOL -P embed.cmake
# defines `const char SYMBOL[]` (NUL-terminated) and `const size_t SYMBOL_len`.
include("${CMAKE_CURRENT_LIST_DIR}/embed_bytes.cmake")
embed_bytes("${IN}" bytes len)
get_filename_component(base "${IN}" NAME)
file(WRITE "${OUT}.tmp"
     "/* generated from ${base} by cmake/embed.cmake: do not edit */\n"
     "#include <stddef.h>\n"
     "const char ${NAME}[] = {\n${bytes}0};\n"
     "const size_t ${NAME}_len = ${len};\n")
file(RENAME "${OUT}.tmp" "${OUT}")
