# Resource object code (Python 3)
# Created by: object code
# Created by: The Resource Compiler for Qt version 6.11.3
# WARNING! All changes made in this file will be lost!

from PySide6 import QtCore

qt_resource_data = b"\
\x00\x00\x00\xff\
<\
svg xmlns=\x22http:\
//www.w3.org/200\
0/svg\x22 width=\x2248\
\x22 height=\x2248\x22 vi\
ewBox=\x220 0 48 48\
\x22>\x0a  <rect x=\x224\x22\
 y=\x2210\x22 width=\x222\
8\x22 height=\x2228\x22 r\
x=\x225\x22 fill=\x22#7b1\
fa2\x22/>\x0a  <path d\
=\x22M32 20l12-7v22\
l-12-7z\x22 fill=\x22#\
7b1fa2\x22/>\x0a  <pat\
h d=\x22M14 17v14l1\
1-7z\x22 fill=\x22#fff\
fff\x22/>\x0a</svg>\x0a\
\x00\x00\x01o\
<\
svg xmlns=\x22http:\
//www.w3.org/200\
0/svg\x22 width=\x2248\
\x22 height=\x2248\x22 vi\
ewBox=\x220 0 48 48\
\x22>\x0a  <path d=\x22M1\
0 4h20l10 10v30H\
10z\x22 fill=\x22#607d\
8b\x22/>\x0a  <path d=\
\x22M30 4v10h10z\x22 f\
ill=\x22#b0bec5\x22/>\x0a\
  <rect x=\x2216\x22 y\
=\x2222\x22 width=\x2218\x22\
 height=\x223\x22 fill\
=\x22#ffffff\x22/>\x0a  <\
rect x=\x2216\x22 y=\x222\
9\x22 width=\x2218\x22 he\
ight=\x223\x22 fill=\x22#\
ffffff\x22/>\x0a  <rec\
t x=\x2216\x22 y=\x2236\x22 \
width=\x2212\x22 heigh\
t=\x223\x22 fill=\x22#fff\
fff\x22/>\x0a</svg>\x0a\
\x00\x00\x01:\
<\
svg xmlns=\x22http:\
//www.w3.org/200\
0/svg\x22 width=\x2248\
\x22 height=\x2248\x22 vi\
ewBox=\x220 0 48 48\
\x22>\x0a  <circle cx=\
\x2217\x22 cy=\x2217\x22 r=\x22\
7\x22 fill=\x22#00897b\
\x22/>\x0a  <circle cx\
=\x2233\x22 cy=\x2217\x22 r=\
\x227\x22 fill=\x22#26a69\
a\x22/>\x0a  <path d=\x22\
M4 40c0-8 6-13 1\
3-13s13 5 13 13z\
\x22 fill=\x22#00897b\x22\
/>\x0a  <path d=\x22M2\
0 40c0-8 6-13 13\
-13s13 5 13 13z\x22\
 fill=\x22#26a69a\x22/\
>\x0a</svg>\x0a\
\x00\x00\x01\xca\
<\
svg xmlns=\x22http:\
//www.w3.org/200\
0/svg\x22 width=\x2225\
6\x22 height=\x22256\x22 \
viewBox=\x220 0 256\
 256\x22>\x0a  <rect x\
=\x228\x22 y=\x228\x22 width\
=\x22240\x22 height=\x222\
40\x22 rx=\x2256\x22 fill\
=\x22#1976d2\x22/>\x0a  <\
path d=\x22M64 72h1\
28a20 20 0 0 1 2\
0 20v64a20 20 0 \
0 1-20 20h-68l-4\
0 32v-32h-20a20 \
20 0 0 1-20-20V9\
2a20 20 0 0 1 20\
-20z\x22 fill=\x22#fff\
fff\x22/>\x0a  <circle\
 cx=\x2296\x22 cy=\x22124\
\x22 r=\x2212\x22 fill=\x22#\
1976d2\x22/>\x0a  <cir\
cle cx=\x22128\x22 cy=\
\x22124\x22 r=\x2212\x22 fil\
l=\x22#1976d2\x22/>\x0a  \
<circle cx=\x22160\x22\
 cy=\x22124\x22 r=\x2212\x22\
 fill=\x22#1976d2\x22/\
>\x0a</svg>\x0a\
"

qt_resource_name = b"\
\x00\x05\
\x00o\xa6S\
\x00i\
\x00c\x00o\x00n\x00s\
\x00\x09\
\x0a\xc2\xa3'\
\x00v\
\x00i\x00d\x00e\x00o\x00.\x00s\x00v\x00g\
\x00\x08\
\x00(Wg\
\x00f\
\x00i\x00l\x00e\x00.\x00s\x00v\x00g\
\x00\x09\
\x06\xc3\x87\xe7\
\x00g\
\x00r\x00o\x00u\x00p\x00.\x00s\x00v\x00g\
\x00\x0d\
\x0aPc\x87\
\x00m\
\x00e\x00s\x00s\x00e\x00n\x00g\x00e\x00r\x00.\x00s\x00v\x00g\
"

qt_resource_struct = b"\
\x00\x00\x00\x00\x00\x02\x00\x00\x00\x01\x00\x00\x00\x01\
\x00\x00\x00\x00\x00\x02\x00\x00\x00\x04\x00\x00\x00\x02\
\x00\x00\x00(\x00\x00\x00\x00\x00\x01\x00\x00\x01\x03\
\x00\x00\x00>\x00\x00\x00\x00\x00\x01\x00\x00\x02v\
\x00\x00\x00V\x00\x00\x00\x00\x00\x01\x00\x00\x03\xb4\
\x00\x00\x00\x10\x00\x00\x00\x00\x00\x01\x00\x00\x00\x00\
"

def qInitResources():
    QtCore.qRegisterResourceData(0x01, qt_resource_struct, qt_resource_name, qt_resource_data)

def qCleanupResources():
    QtCore.qUnregisterResourceData(0x01, qt_resource_struct, qt_resource_name, qt_resource_data)

qInitResources()
