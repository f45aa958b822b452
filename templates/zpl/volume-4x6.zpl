^XA
^CI28
^PW812
^LL1218
^FO40,40^A0N,60,54^FH^FD{{name max=24}}^FS
^FO40,120^A0N,40,36^FH^FDMRN {{mrn_grouped}}^FS
^FO40,170^A0N,40,36^FH^FDDOB {{birth_date}}^FS
^FO40,220^A0N,40,36^FH^FD{{record_type}} volume {{volume}}^FS
^FO40,270^A0N,40,36^FH^FDHome {{home}}^FS
^FO40,360{{symbol module=4 height=260}}
^FO560,760^GB220,160,160^FS
^FO580,778^A0N,130,96^FR^FH^FD{{tens_digit}}{{units_digit}}^FS
^XZ
