package provisioning

import (
	"context"

	espprovv1 "github.com/espprov/espprov/api/espprov/v1"
)

// ApplyProfile fills the fields req leaves unset from its station profile
// (ProvisionRequest.profile); a request without one is returned as is. An
// unknown profile is a NotFound status naming it. The job runner calls it
// before it records the job, so that the job's device and request are the
// filled ones.
func (s *Service) ApplyProfile(req *espprovv1.ProvisionRequest) (*espprovv1.ProvisionRequest, error) {
	if req.GetProfile() == "" {
		return req, nil
	}
	return s.profiles.Apply(req)
}

// ListProfiles implements the RPC: the station profiles, without secrets.
func (s *Service) ListProfiles(context.Context, *espprovv1.ListProfilesRequest) (*espprovv1.ListProfilesResponse, error) {
	return &espprovv1.ListProfilesResponse{Profiles: s.profiles.List()}, nil
}
