^XA
^CI28
^PW812
^LL1218
^FO20,12^A0N,90,90^FH^FD{{code}}^FS
^FO20,106^A0N,48,48^FH^FD{{name max=32}}^FS
^FO20,268{{symbol module=4 height=252}}
^XZ
