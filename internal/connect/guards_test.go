package connect_test

import (
	"net/http"

	sdkconnect "github.com/aws/aws-sdk-go-v2/service/connect"

	"github.com/vmx-dev/vmx/internal/connect"
	"github.com/vmx-dev/vmx/internal/pipeline"
)

// The pipeline's interfaces, and the SDK client as each API.
var (
	_ pipeline.Sink      = (*connect.TaskSink)(nil)
	_ pipeline.Router    = (*connect.Directory)(nil)
	_ pipeline.Finalizer = (*connect.FlagReset)(nil)
	_ pipeline.Linker    = connect.SignedLinks{}
	_ http.Handler       = (*connect.Presigner)(nil)

	_ connect.DirectoryAPI  = (*sdkconnect.Client)(nil)
	_ connect.TaskAPI       = (*sdkconnect.Client)(nil)
	_ connect.AttributesAPI = (*sdkconnect.Client)(nil)
)
