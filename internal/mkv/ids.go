package mkv

// Element IDs used by KVS streams, with their length marker bits kept, as
// written in the Matroska specification.
const (
	idEBML               = 0x1A45DFA3
	idEBMLVersion        = 0x4286
	idEBMLReadVersion    = 0x42F7
	idEBMLMaxIDLength    = 0x42F2
	idEBMLMaxSizeLength  = 0x42F3
	idDocType            = 0x4282
	idDocTypeVersion     = 0x4287
	idDocTypeReadVersion = 0x4285

	idSegment = 0x18538067

	idSeekHead    = 0x114D9B74
	idInfo        = 0x1549A966
	idTracks      = 0x1654AE6B
	idTags        = 0x1254C367
	idCluster     = 0x1F43B675
	idCues        = 0x1C53BB6B
	idChapters    = 0x1043A770
	idAttachments = 0x1941A469

	idSegmentUID    = 0x73A4
	idTimecodeScale = 0x2AD7B1
	idDuration      = 0x4489
	idTitle         = 0x7BA9
	idMuxingApp     = 0x4D80
	idWritingApp    = 0x5741

	idTrackEntry   = 0xAE
	idTrackNumber  = 0xD7
	idTrackUID     = 0x73C5
	idTrackType    = 0x83
	idName         = 0x536E
	idCodecID      = 0x86
	idCodecPrivate = 0x63A2
	idAudio        = 0xE1
	idVideo        = 0xE0

	idTag         = 0x7373
	idTargets     = 0x63C0
	idSimpleTag   = 0x67C8
	idTagName     = 0x45A3
	idTagLanguage = 0x447A
	idTagDefault  = 0x4484
	idTagString   = 0x4487
	idTagBinary   = 0x4485

	idTimecode      = 0xE7
	idPosition      = 0xA7
	idPrevSize      = 0xAB
	idSimpleBlock   = 0xA3
	idBlockGroup    = 0xA0
	idBlock         = 0xA1
	idBlockDuration = 0x9B
	idRefBlock      = 0xFB

	idVoid  = 0xEC
	idCRC32 = 0xBF
)

// elementKind says how the reader treats an element's body.
type elementKind uint8

const (
	kindSkip   elementKind = iota // body skipped by its size
	kindMaster                    // children are read
	kindUint                      // unsigned integer the reader keeps
	kindString                    // string the reader keeps
	kindBlock                     // SimpleBlock or Block
)

type elementInfo struct {
	name   string
	parent uint32 // 0 for top-level elements
	kind   elementKind
}

// lookup returns what the reader knows of an element ID. Unknown IDs are
// skipped by size; they may not have an unknown size.
func lookup(id uint32) (elementInfo, bool) {
	switch id {
	case idEBML:
		return elementInfo{"EBML", 0, kindMaster}, true
	case idEBMLVersion:
		return elementInfo{"EBMLVersion", idEBML, kindSkip}, true
	case idEBMLReadVersion:
		return elementInfo{"EBMLReadVersion", idEBML, kindSkip}, true
	case idEBMLMaxIDLength:
		return elementInfo{"EBMLMaxIDLength", idEBML, kindSkip}, true
	case idEBMLMaxSizeLength:
		return elementInfo{"EBMLMaxSizeLength", idEBML, kindSkip}, true
	case idDocType:
		return elementInfo{"DocType", idEBML, kindString}, true
	case idDocTypeVersion:
		return elementInfo{"DocTypeVersion", idEBML, kindSkip}, true
	case idDocTypeReadVersion:
		return elementInfo{"DocTypeReadVersion", idEBML, kindSkip}, true
	case idSegment:
		return elementInfo{"Segment", 0, kindMaster}, true
	case idSeekHead:
		return elementInfo{"SeekHead", idSegment, kindSkip}, true
	case idInfo:
		return elementInfo{"Info", idSegment, kindMaster}, true
	case idTracks:
		return elementInfo{"Tracks", idSegment, kindMaster}, true
	case idTags:
		return elementInfo{"Tags", idSegment, kindMaster}, true
	case idCluster:
		return elementInfo{"Cluster", idSegment, kindMaster}, true
	case idCues:
		return elementInfo{"Cues", idSegment, kindSkip}, true
	case idChapters:
		return elementInfo{"Chapters", idSegment, kindSkip}, true
	case idAttachments:
		return elementInfo{"Attachments", idSegment, kindSkip}, true
	case idSegmentUID:
		return elementInfo{"SegmentUID", idInfo, kindSkip}, true
	case idTimecodeScale:
		return elementInfo{"TimecodeScale", idInfo, kindUint}, true
	case idDuration:
		return elementInfo{"Duration", idInfo, kindSkip}, true
	case idTitle:
		return elementInfo{"Title", idInfo, kindSkip}, true
	case idMuxingApp:
		return elementInfo{"MuxingApp", idInfo, kindSkip}, true
	case idWritingApp:
		return elementInfo{"WritingApp", idInfo, kindSkip}, true
	case idTrackEntry:
		return elementInfo{"TrackEntry", idTracks, kindMaster}, true
	case idTrackNumber:
		return elementInfo{"TrackNumber", idTrackEntry, kindUint}, true
	case idTrackUID:
		return elementInfo{"TrackUID", idTrackEntry, kindUint}, true
	case idTrackType:
		return elementInfo{"TrackType", idTrackEntry, kindUint}, true
	case idName:
		return elementInfo{"Name", idTrackEntry, kindString}, true
	case idCodecID:
		return elementInfo{"CodecID", idTrackEntry, kindString}, true
	case idCodecPrivate:
		return elementInfo{"CodecPrivate", idTrackEntry, kindSkip}, true
	case idAudio:
		return elementInfo{"Audio", idTrackEntry, kindSkip}, true
	case idVideo:
		return elementInfo{"Video", idTrackEntry, kindSkip}, true
	case idTag:
		return elementInfo{"Tag", idTags, kindMaster}, true
	case idTargets:
		return elementInfo{"Targets", idTag, kindSkip}, true
	case idSimpleTag:
		// SimpleTag nests in Tag and in SimpleTag; parentOK handles both.
		return elementInfo{"SimpleTag", idTag, kindMaster}, true
	case idTagName:
		return elementInfo{"TagName", idSimpleTag, kindString}, true
	case idTagLanguage:
		return elementInfo{"TagLanguage", idSimpleTag, kindSkip}, true
	case idTagDefault:
		return elementInfo{"TagDefault", idSimpleTag, kindSkip}, true
	case idTagString:
		return elementInfo{"TagString", idSimpleTag, kindString}, true
	case idTagBinary:
		return elementInfo{"TagBinary", idSimpleTag, kindSkip}, true
	case idTimecode:
		return elementInfo{"Timecode", idCluster, kindUint}, true
	case idPosition:
		return elementInfo{"Position", idCluster, kindSkip}, true
	case idPrevSize:
		return elementInfo{"PrevSize", idCluster, kindSkip}, true
	case idSimpleBlock:
		return elementInfo{"SimpleBlock", idCluster, kindBlock}, true
	case idBlockGroup:
		return elementInfo{"BlockGroup", idCluster, kindMaster}, true
	case idBlock:
		return elementInfo{"Block", idBlockGroup, kindBlock}, true
	case idBlockDuration:
		return elementInfo{"BlockDuration", idBlockGroup, kindSkip}, true
	case idRefBlock:
		return elementInfo{"ReferenceBlock", idBlockGroup, kindSkip}, true
	case idVoid:
		return elementInfo{"Void", 0, kindSkip}, true
	case idCRC32:
		return elementInfo{"CRC-32", 0, kindSkip}, true
	}
	return elementInfo{}, false
}

// isGlobal reports whether an element may stand inside any master.
func isGlobal(id uint32) bool { return id == idVoid || id == idCRC32 }

// validChild reports whether child may stand inside an open master with ID
// parent. Unknown IDs are taken as children so that they are skipped, not
// mistaken for the end of an unknown-size master.
func validChild(parent, child uint32) bool {
	if isGlobal(child) {
		return true
	}
	info, ok := lookup(child)
	if !ok {
		return true
	}
	if child == idSimpleTag && parent == idSimpleTag {
		return true
	}
	return info.parent == parent
}

// elementName names an ID for error messages.
func elementName(id uint32) string {
	if info, ok := lookup(id); ok {
		return info.name
	}
	return "unknown"
}
