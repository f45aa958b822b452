^XA
^CI28
^PW812
^LL406
^FO20,12^A0N,60,60^FH^FDCART {{code}}^FS
^FO20,76^A0N,34,34^FH^FD{{name max=32}}^FS
^FO20,154{{symbol module=3 height=146}}
^XZ
