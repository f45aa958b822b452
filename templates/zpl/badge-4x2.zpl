^XA
^CI28
^PW812
^LL406
^FO20,12^A0N,60,60^FH^FD{{user max=26}}^FS
^FO20,76^A0N,34,34^FH^FD{{role}}^FS
^FO20,154{{symbol module=3 height=146}}
^XZ
