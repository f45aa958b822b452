^XA
^CI28
^PW406
^LL203
^FO20,12^A0N,34,34^FH^FDCART {{code}}^FS
^FO20,50^A0N,24,24^FH^FD{{name max=20}}^FS
^FO20,84{{symbol module=2 height=66}}
^XZ
