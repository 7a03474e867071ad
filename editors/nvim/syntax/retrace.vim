" The :RetraceTree window: the server's text rendering of the navigation tree.
if exists("b:current_syntax")
  finish
endif

syntax match RetraceBranch /^[│├└─ ]\+/
syntax match RetraceId /#\d\+/
syntax match RetraceReason /([a-z-]\+)/
syntax match RetraceGone /\[deleted\]/
syntax match RetraceCurrent /<- current$/

highlight default link RetraceBranch Comment
highlight default link RetraceId Number
highlight default link RetraceReason Comment
highlight default link RetraceGone ErrorMsg
highlight default link RetraceCurrent Special

let b:current_syntax = "retrace"
