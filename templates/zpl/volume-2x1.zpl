^XA
^CI28
^PW406
^LL203
^FO16,10^A0N,26,24^FH^FD{{name max=16}}^FS
^FO16,40^A0N,22,20^FH^FDMRN {{mrn_grouped}}  vol {{volume}}^FS
^FO16,68{{symbol module=2 height=80}}
^FO330,10^GB66,50,50^FS
^FO336,16^A0N,40,30^FR^FH^FD{{tens_digit}}{{units_digit}}^FS
^XZ
