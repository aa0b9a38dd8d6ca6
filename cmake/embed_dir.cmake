# Embed every file of a directory in one C source, as a table:
#   cmake -DDIR=DIR -DOUT=FILE.c -DNAME=SYMBOL -P embed_dir.cmake
# defines `const struct site_asset SYMBOL[]` and `const size_t SYMBOL_len`
# (struct site_asset: name, data, len, etag; server/site.h). Only the
# files directly in DIR whose names are [A-Za-z0-9._-]+ and do not start
# with a dot are taken. The ETag is the start of the file's SHA-256, so
# that a browser revalidates only what changed.
include("${CMAKE_CURRENT_LIST_DIR}/embed_bytes.cmake")
file(GLOB files LIST_DIRECTORIES false RELATIVE "${DIR}" "${DIR}/*")
list(SORT files)
set(body "/* generated from ${DIR} by cmake/embed_dir.cmake: do not edit */\n")
string(APPEND body "#include <stddef.h>\n#include \"site.h\"\n\n")
set(table "")
set(i 0)
foreach(f ${files})
  if(NOT f MATCHES "^[A-Za-z0-9_-][A-Za-z0-9._-]*$")
    continue()
  endif()
  embed_bytes("${DIR}/${f}" bytes len)
  file(SHA256 "${DIR}/${f}" sum)
  string(SUBSTRING "${sum}" 0 32 sum)
  string(APPEND body "static const char a${i}[] = {\n${bytes}0};\n")
  string(APPEND table "    {\"${f}\", a${i}, ${len}, \"\\\"${sum}\\\"\"},\n")
  math(EXPR i "${i} + 1")
endforeach()
string(APPEND body "\nconst struct site_asset ${NAME}[] = {\n${table}    {NULL, NULL, 0, NULL},\n};\n")
string(APPEND body "const size_t ${NAME}_len = ${i};\n")
file(WRITE "${OUT}.tmp" "${body}")
file(RENAME "${OUT}.tmp" "${OUT}")
