# embed_bytes(FILE BYTES_VAR LEN_VAR): FILE's contents as C initializer
# text ("0x2f,0x2a,...", 16 to a line) in BYTES_VAR and its length in
# bytes in LEN_VAR. Shared by embed.cmake and embed_dir.cmake.
function(embed_bytes file bytes_var len_var)
  file(READ "${file}" hex HEX)
  string(LENGTH "${hex}" n)
  math(EXPR len "${n} / 2")
  string(REGEX REPLACE "([0-9a-f][0-9a-f])" "0x\\1," bytes "${hex}")
  string(REGEX REPLACE "((0x[0-9a-f][0-9a-f],){16})" "\\1\n" bytes "${bytes}")
  set(${bytes_var} "${bytes}" PARENT_SCOPE)
  set(${len_var} "${len}" PARENT_SCOPE)
endfunction()
